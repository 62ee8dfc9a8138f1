//! Harness for driving QEMU over the serial console.
