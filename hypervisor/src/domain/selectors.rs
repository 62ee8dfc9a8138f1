//! Looking up the segment descriptors a selector names in the current vCPU's own tables.

use crate::domain::state::State;
use crate::mm::page_types::TableMem;

/// The descriptor the non-null selector `sel` names in the current vCPU's GDT (below the
/// reserved entries) or LDT, `None` beyond them.
pub fn descriptor(st: &State, sel: u16) -> Option<u64> {
    let idx = u64::from(sel >> 3);
    let t = &st.cur_vcpu_ref()?.desc;
    let (frames, ents) = if sel & 4 != 0 {
        (&t.ldt[..t.ldt_nr], t.ldt_ents)
    } else {
        (&t.gdt[..t.gdt_nr], t.gdt_ents)
    };
    if idx >= ents || (sel & 4 == 0 && idx == 0) {
        return None;
    }
    let mfn = *frames.get((idx / 512) as usize)?;
    Some(st.mem.read(mfn, (idx % 512) as usize))
}

/// The base of the segment selector `sel` names for the current vCPU when a data segment
/// register may be loaded with it: a descriptor of its GDT or LDT (`data_segment_base`) or
/// one of the hypervisor's flat ring-3 segments. `None` for the null selector and for any
/// selector loading would fault on (beyond the tables, not present, not data).
pub fn data_selector_base(st: &State, sel: u16) -> Option<u64> {
    use guest_abi::arch::{FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_DS32};
    if sel & 4 == 0 && [FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_DS32].contains(&(sel | 3)) {
        return Some(0);
    }
    descriptor(st, sel).and_then(crate::mm::descriptor::data_segment_base)
}

/// Load the current vCPU's saved DS, ES, FS and GS (its tables already live): each one that
/// is null or names a loadable segment of its own tables as is, any other as null. Skipped
/// only when both the CPU and the vCPU have all four null: a non-null selector is reloaded
/// even if the number is the same, since another domain's table gave the CPU its segment
/// (its base and limit matter to 32-bit code).
pub fn load_data_selectors(st: &State) {
    let Some(v) = st.cur_vcpu_ref() else {
        return;
    };
    let want = v.data_sel.map(|s| match s & !3 {
        0 => 0,
        _ if data_selector_base(st, s).is_some() => s,
        _ => 0,
    });
    if want != [0; 4] || crate::arch::cpu::data_selectors() != [0; 4] {
        crate::arch::cpu::load_data_selectors(want);
    }
}
