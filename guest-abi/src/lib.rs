#![no_std]
//! Placeholder: filled by the guest-abi work.
