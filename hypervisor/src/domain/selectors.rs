//! Looking up the segment descriptors a selector names in the current vCPU's own tables.

use crate::domain::state::State;
use crate::mm::page_types::TableMem;

/// The descriptor the non-null selector `sel` names in the current vCPU's GDT (below the
/// reserved entries) or LDT, `None` beyond them.
pub fn descriptor(st: &State, sel: u16) -> Option<u64> {
    let idx = u64::from(sel >> 3);
    let t = &st.domains.get(&st.current)?.vcpu.desc;
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
