//! The bookkeeping of the context-switch workload, shared by its PV half (`bench/tasks.rs`)
//! and its native half (`native/tasks.rs`), which differ only in how a task's `syscall`
//! arrives and how the other address space is installed.
//!
//! Two tasks take turns; each counts its own turns in `r12` and passes the count in `rdi`
//! with `rax = 1`, so a task whose registers were not preserved across the switches is seen.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The task both halves run, as assembly text for their `global_asm!`: count turns in `r12`,
/// make system call 1 with the count in `rdi`, for ever.
#[cfg(target_os = "none")]
macro_rules! task_loop_asm {
    () => {
        "
    xor r12d, r12d
2:  inc r12
    mov rdi, r12
    mov eax, 1
    syscall
    jmp 2b
"
    };
}
#[cfg(target_os = "none")]
pub(crate) use task_loop_asm;

/// What the kernel does with the task that just made its `syscall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    /// Save the task's frame as task `from` and resume task `to`'s.
    Switch { from: usize, to: usize },
    /// The switches are done: save the frame as task `from` and go back to the driver.
    Done { from: usize },
    /// The task's registers came back wrong: go back to the driver.
    Broken,
}

/// The turn counters of the two tasks (statics: the syscall path runs without a context).
pub struct Turns {
    current: AtomicU64,
    switches: AtomicU64,
    target: AtomicU64,
    turns: [AtomicU64; 2],
    broken: AtomicBool,
}

impl Turns {
    pub const fn new() -> Turns {
        Turns {
            current: AtomicU64::new(0),
            switches: AtomicU64::new(0),
            target: AtomicU64::new(0),
            turns: [AtomicU64::new(0), AtomicU64::new(0)],
            broken: AtomicBool::new(false),
        }
    }

    /// Start a run of `switches` task-to-task switches (at least 1), task 0 first.
    pub fn start(&self, switches: u64) {
        for t in &self.turns {
            t.store(0, Ordering::Relaxed);
        }
        self.current.store(0, Ordering::Relaxed);
        self.switches.store(0, Ordering::Relaxed);
        // The first syscall (task 0's) starts the count; `switches` more follow.
        self.target.store(switches.max(1) + 1, Ordering::Relaxed);
        self.broken.store(false, Ordering::Relaxed);
    }

    /// The running task made its `syscall` with `rax` and `rdi` from `frame`: save the
    /// frame as that task's, then either load the other task's into `frame` and install its
    /// address space with `install` (returns 0: resume `frame`), or end the run (1: back to
    /// the driver) when the switches are done, the task's registers came back wrong or
    /// `install` failed.
    pub fn on_syscall<F: Copy>(
        &self,
        frame: &mut F,
        saved: &mut [F; 2],
        (rax, rdi): (u64, u64),
        install: impl FnOnce(usize) -> bool,
    ) -> u64 {
        match self.next(rax, rdi) {
            Turn::Broken => 1,
            Turn::Done { from } => {
                saved[from] = *frame;
                1
            }
            Turn::Switch { from, to } => {
                saved[from] = *frame;
                *frame = saved[to];
                if install(to) {
                    0
                } else {
                    self.broken.store(true, Ordering::Relaxed);
                    1
                }
            }
        }
    }

    /// The decision for a `syscall` with `rax` and `rdi` from the running task.
    fn next(&self, rax: u64, rdi: u64) -> Turn {
        let cur = self.current.load(Ordering::Relaxed) as usize;
        let turns = self.turns[cur].fetch_add(1, Ordering::Relaxed) + 1;
        if rax != 1 || rdi != turns {
            self.broken.store(true, Ordering::Relaxed);
            return Turn::Broken;
        }
        if self.switches.fetch_add(1, Ordering::Relaxed) + 1 >= self.target.load(Ordering::Relaxed)
        {
            return Turn::Done { from: cur };
        }
        let next = 1 - cur;
        self.current.store(next as u64, Ordering::Relaxed);
        Turn::Switch {
            from: cur,
            to: next,
        }
    }

    /// How the run ended.
    pub fn result(&self) -> Result<(), &'static str> {
        if self.broken.load(Ordering::Relaxed) {
            Err("task-registers-corrupted")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task's "frame" here is its id and its turn count.
    fn call(t: &Turns, running: &mut (usize, u64), saved: &mut [(usize, u64); 2]) -> u64 {
        running.1 += 1;
        let regs = (1, running.1);
        t.on_syscall(running, saved, regs, |_| true)
    }

    #[test]
    fn tasks_alternate_until_the_target_then_the_driver_gets_control() {
        let t = Turns::new();
        t.start(3);
        let mut saved = [(0, 0), (1, 0)];
        let mut running = saved[0];
        let mut ran = Vec::new();
        while call(&t, &mut running, &mut saved) == 0 {
            ran.push(running.0);
        }
        assert_eq!(ran, [1, 0, 1], "three switches, task 0 first");
        assert_eq!(saved, [(0, 2), (1, 2)]);
        assert_eq!(t.result(), Ok(()));
    }

    #[test]
    fn a_wrong_count_or_rax_or_a_failed_install_breaks_the_run() {
        let t = Turns::new();
        t.start(5);
        let mut saved = [0u64; 2];
        let mut f = 0u64;
        assert_eq!(t.on_syscall(&mut f, &mut saved, (1, 1), |_| true), 0);
        assert_eq!(t.on_syscall(&mut f, &mut saved, (1, 7), |_| true), 1);
        assert!(t.result().is_err());
        t.start(5);
        assert_eq!(t.on_syscall(&mut f, &mut saved, (0, 1), |_| true), 1);
        assert!(t.result().is_err());
        t.start(5);
        assert_eq!(t.on_syscall(&mut f, &mut saved, (1, 1), |_| false), 1);
        assert!(t.result().is_err());
        t.start(5);
        assert_eq!(t.result(), Ok(()));
    }
}
