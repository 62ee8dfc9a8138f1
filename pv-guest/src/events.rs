//! The guest's event-channel layer: shared_info mapped at a spare page, the upcall entry
//! registered with `callback_op`, a handler per port (and a default one), and binding
//! helpers. The upcall clears `evtchn_upcall_pending`, takes the selector with `xchg`, scans
//! pending & ~mask, clears each bit and calls its handler, then returns through `iret`.

use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use guest_abi::callback::{CallbackRegister, CALLBACKF_MASK_EVENTS, CALLBACKTYPE_EVENT};
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::guest;
use guest_abi::hypercall::{nr, HYPERCALL_PAGE_SLOT_SIZE};
use guest_abi::mmu::UvmfFlags;
use guest_abi::shared_info::SharedInfo;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, EvtchnPort};

/// Ports with their own handler (others go to the default handler).
pub const MAX_PORTS: usize = 1024;
/// The spare page of the initial region (counted back from its end) holding shared_info;
/// grant tests use the first few, `mm` those from 64.
const SHARED_INFO_SPARE: u64 = 48;

/// A port's handler.
pub type Handler = fn(u32);

static SHARED: AtomicUsize = AtomicUsize::new(0);
static HANDLERS: [AtomicUsize; MAX_PORTS] = [const { AtomicUsize::new(0) }; MAX_PORTS];
static DEFAULT: AtomicUsize = AtomicUsize::new(0);
/// The vCPU each port notifies (as we bound it; 0 unless bound to another): a vCPU's upcall
/// handles only its own ports and leaves the others pending for theirs, as Linux does.
static OWNER: [AtomicU8; MAX_PORTS] = [const { AtomicU8::new(0) }; MAX_PORTS];

fn owner(port: usize) -> usize {
    OWNER.get(port).map_or(0, |o| usize::from(o.load(SeqCst)))
}

fn set_owner(port: u32, vcpu: u32) {
    if let Some(o) = OWNER.get(port as usize) {
        o.store(vcpu as u8, SeqCst);
    }
}
/// Events handled so far (all ports).
pub static HANDLED: AtomicU64 = AtomicU64::new(0);

core::arch::global_asm!(
    ".pushsection .text, \"ax\"",
    ".global pv_event_upcall",
    "pv_event_upcall:",
    // The bounce frame: rcx, r11, rip, cs, rflags, rsp, ss. Save what Rust may clobber.
    "cld",
    "push rax",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push rbx",
    "mov rbx, rsp",
    "and rsp, -16",
    "call {handler}",
    "mov rsp, rbx",
    "pop rbx",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rax",
    // Back to the interrupted code: iret takes [flags, rip, cs, rflags, rsp, ss] with rcx,
    // r11 and rax in their registers (the hypercall page slot pushes them).
    "pop rcx",
    "pop r11",
    "push 0",
    "jmp hypercall_page + {iret}",
    ".popsection",
    handler = sym upcall,
    iret = const nr::IRET * HYPERCALL_PAGE_SLOT_SIZE,
);

extern "C" {
    fn pv_event_upcall();
}

fn shared() -> Option<&'static SharedInfo> {
    let p = SHARED.load(SeqCst) as *const SharedInfo;
    // SAFETY: set once by `init` to our mapping of the shared_info frame, which stays
    // mapped for the life of the domain.
    (!p.is_null()).then(|| unsafe { &*p })
}

fn atomic64(w: &u64) -> &AtomicU64 {
    // SAFETY: an aligned word of shared_info, which the hypervisor updates with atomic
    // operations too; every access through this view is atomic.
    unsafe { AtomicU64::from_ptr(w as *const u64 as *mut u64) }
}

fn atomic8(b: &u8) -> &AtomicU8 {
    // SAFETY: as `atomic64`, for a byte of vcpu_info.
    unsafe { AtomicU8::from_ptr(b as *const u8 as *mut u8) }
}

/// Map shared_info, register the upcall, and unmask event delivery.
pub fn init(si: &StartInfo) -> Result<(), Errno> {
    if shared().is_some() {
        return Ok(());
    }
    let region_end = crate::pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
    let va = region_end - (SHARED_INFO_SPARE + 1) * crate::pagetable::PAGE_SIZE;
    let pte = (si.shared_info & !0xFFF) | crate::pagetable::PTE_KERNEL_RW;
    // SAFETY: the spare page is used by nothing else in this kernel; the frame is our own
    // shared_info (the hypervisor checks ownership).
    unsafe { guest::update_va_mapping(va, pte, UvmfFlags::INVLPG) }?;
    SHARED.store(va as usize, SeqCst);
    let cb = CallbackRegister {
        type_: CALLBACKTYPE_EVENT,
        flags: CALLBACKF_MASK_EVENTS,
        address: pv_event_upcall as *const () as u64,
        ..Default::default()
    };
    // SAFETY: the callback is the upcall entry above, which returns with `iret`.
    unsafe { guest::callback_register(&cb) }?;
    unmask_upcalls();
    Ok(())
}

/// Allow upcalls on the vCPU we run on (its vcpu_info's evtchn_upcall_mask = 0); a pending
/// one is taken at the next hypercall return or interrupt.
pub fn unmask_upcalls() {
    if let Some(s) = shared() {
        atomic8(&s.vcpu_info[crate::smp::current()].evtchn_upcall_mask).store(0, SeqCst);
    }
}

/// Block event upcalls on the vCPU we run on.
pub fn mask_upcalls() {
    if let Some(s) = shared() {
        atomic8(&s.vcpu_info[crate::smp::current()].evtchn_upcall_mask).store(1, SeqCst);
    }
}

/// Our shared_info, once mapped.
pub fn shared_info() -> Option<&'static SharedInfo> {
    shared()
}

/// Set the handler of `port` (ports beyond [`MAX_PORTS`] use the default handler).
pub fn set_handler(port: u32, h: Handler) {
    if let Some(slot) = HANDLERS.get(port as usize) {
        slot.store(h as usize, SeqCst);
    }
}

/// Set the handler for ports without one.
pub fn set_default_handler(h: Handler) {
    DEFAULT.store(h as usize, SeqCst);
}

fn dispatch(port: u32) {
    HANDLED.fetch_add(1, SeqCst);
    let h = HANDLERS.get(port as usize).map_or(0, |s| s.load(SeqCst));
    let h = if h != 0 { h } else { DEFAULT.load(SeqCst) };
    if h != 0 {
        // SAFETY: only `set_handler`/`set_default_handler` store here, always a `Handler`.
        let f: Handler = unsafe { core::mem::transmute::<usize, Handler>(h) };
        f(port);
    }
}

/// The upcall, with events masked: handle every pending, unmasked port the vCPU we run on
/// was notified of (its vcpu_info's selector).
extern "C" fn upcall() {
    let Some(s) = shared() else { return };
    let me = crate::smp::current();
    let v = &s.vcpu_info[me];
    loop {
        atomic8(&v.evtchn_upcall_pending).store(0, SeqCst);
        let sel = atomic64(&v.evtchn_pending_sel).swap(0, SeqCst);
        if sel == 0 {
            break;
        }
        for w in 0..64 {
            if sel & (1 << w) == 0 {
                continue;
            }
            let pending = atomic64(&s.evtchn_pending[w]);
            let bits = pending.load(SeqCst) & !atomic64(&s.evtchn_mask[w]).load(SeqCst);
            for b in 0..64 {
                if bits & (1 << b) != 0 && owner(w * 64 + b) == me {
                    pending.fetch_and(!(1 << b), SeqCst);
                    dispatch((w * 64 + b) as u32);
                }
            }
        }
    }
}

/// Bind VIRQ `virq` on vCPU 0 with handler `h`.
pub fn bind_virq(virq: u32, h: Handler) -> Result<u32, Errno> {
    let mut op = EvtchnBindVirq {
        virq,
        vcpu: 0,
        port: EvtchnPort(0),
    };
    guest::event_channel_op(&mut op)?;
    set_handler(op.port.0, h);
    Ok(op.port.0)
}

/// Bind to `remote_port` of domain `remote` with handler `h`.
pub fn bind_interdomain(remote: DomId, remote_port: u32, h: Handler) -> Result<u32, Errno> {
    let mut op = EvtchnBindInterdomain {
        remote_dom: remote,
        _pad: 0,
        remote_port: EvtchnPort(remote_port),
        local_port: EvtchnPort(0),
    };
    // The handler first: the hypervisor raises the new port once.
    guest::event_channel_op(&mut op)?;
    set_handler(op.local_port.0, h);
    Ok(op.local_port.0)
}

/// Bind an IPI to ourselves (vCPU 0).
pub fn bind_ipi() -> Result<u32, Errno> {
    bind_ipi_to(0)
}

/// Bind an IPI whose sends notify our vCPU `vcpu`.
pub fn bind_ipi_to(vcpu: u32) -> Result<u32, Errno> {
    let mut op = EvtchnBindIpi {
        vcpu,
        port: EvtchnPort(0),
    };
    guest::event_channel_op(&mut op)?;
    set_owner(op.port.0, vcpu);
    Ok(op.port.0)
}

/// Bind VIRQ `virq` on our vCPU `vcpu` with handler `h`.
pub fn bind_virq_on(virq: u32, vcpu: u32, h: Handler) -> Result<u32, Errno> {
    let mut op = EvtchnBindVirq {
        virq,
        vcpu,
        port: EvtchnPort(0),
    };
    guest::event_channel_op(&mut op)?;
    set_handler(op.port.0, h);
    set_owner(op.port.0, vcpu);
    Ok(op.port.0)
}

/// The address of the upcall entry (for another vCPU's initial context).
pub fn upcall_entry() -> u64 {
    pv_event_upcall as *const () as u64
}

/// Signal `port`.
pub fn send(port: u32) -> Result<(), Errno> {
    guest::evtchn_send(EvtchnPort(port))
}

/// Close `port`.
pub fn close(port: u32) -> Result<(), Errno> {
    set_handler(port, |_| {});
    set_owner(port, 0);
    guest::event_channel_op(&mut EvtchnClose {
        port: EvtchnPort(port),
    })
    .map(|_| ())
}

/// The status of our `port`.
pub fn status(port: u32) -> Result<EvtchnStatus, Errno> {
    status_of(DomId::SELF, port)
}

/// The status of `port` of domain `dom`.
pub fn status_of(dom: DomId, port: u32) -> Result<EvtchnStatus, Errno> {
    let mut op = EvtchnStatus {
        dom,
        port: EvtchnPort(port),
        ..Default::default()
    };
    guest::event_channel_op(&mut op)?;
    Ok(op)
}
