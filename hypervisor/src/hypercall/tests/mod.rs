//! Host tests of every hypercall family's handler, through the real entry path on the
//! modelled machine ([`crate::testbed`]): one file per family, named as the handler's file.

mod callbacks;
mod callbacks_compat;
mod console;
mod debugreg;
mod descriptors;
mod domctl;
mod domctl_save;
mod domctl_trigger;
mod event_channel;
mod fpu;
mod grant_table;
mod iret;
mod memory_op;
mod mmu;
mod mmu_iomem;
mod multicall;
mod physdev;
mod physdev_pirq;
mod sched_op;
mod smp;
mod sysctl;
mod timer;
mod vcpu_context;
mod vcpu_op;
mod version;
mod vm_assist;
