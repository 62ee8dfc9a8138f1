//! How to write a split driver.
//!
//! A PV device is split in two: the **front end** in the guest that uses the
//! device, and the **back end** in the domain that owns the real resource
//! (usually dom0). They share one page holding a [`SharedRing`](crate::ring::SharedRing)
//! and signal each other over one event channel. Setting up:
//!
//! 1. **Front end allocates the ring.** It takes a page, initialises it with
//!    [`FrontRing::init`](crate::ring::FrontRing::init) and grants it to the
//!    back-end domain: fill a [`GrantEntryV1`](crate::grant_table::GrantEntryV1)
//!    with `domid` = back end, `frame` = the page's MFN, then (after a write
//!    barrier) `flags` = `GtfFlags::PERMIT_ACCESS`.
//! 2. **Front end allocates an event channel** with
//!    [`EvtchnAllocUnbound`](crate::event_channel::EvtchnAllocUnbound)
//!    (`remote_dom` = back end).
//! 3. **Front end advertises both in xenstore** under its device directory
//!    (e.g. `device/vif/0/ring-ref` and `event-channel`), then moves its
//!    `state` node to [`XenbusState::Initialised`](crate::io::xenbus::XenbusState).
//! 4. **Back end connects.** Watching the front end's directory, it reads
//!    `ring-ref` and `event-channel`, maps the granted page
//!    ([`GnttabMapGrantRef`](crate::grant_table::GnttabMapGrantRef)), binds
//!    the channel ([`EvtchnBindInterdomain`](crate::event_channel::EvtchnBindInterdomain)),
//!    attaches a [`BackRing`](crate::ring::BackRing) and writes `Connected`
//!    to its own `state`; the front end follows.
//!
//! Then the I/O loop, on both sides the same shape:
//!
//! - **Produce**: `put_request`/`put_response` for each item, then
//!   `push_requests`/`push_responses`; if that returns `true`, send an event
//!   (`EVTCHNOP_send`). Batching several items per push saves notifications.
//! - **Consume**: on an event, loop `take_request`/`take_response` until
//!   `None`, then call `final_check_for_requests`/`final_check_for_responses`;
//!   only if it returns `false` may the side sleep (the check re-arms the
//!   event index and catches work that raced in).
//! - Responses may be produced only for consumed requests; the front end must
//!   not queue more requests than [`FrontRing::free_requests`](crate::ring::FrontRing::free_requests)
//!   allows. Requests carry an `id` the back end echoes, so responses may
//!   complete out of order.
//! - Data larger than a slot travels in separately granted pages named by
//!   grant references inside the request (`blkif` segments, `netif` grefs);
//!   the back end maps or copies them (`GNTTABOP_copy`).
//!
//! Teardown: set `Closing`, wait for the peer's `Closed`, unmap, close the
//! channel, end the grant (clear `flags`, then check `GTF_READING`/`WRITING`
//! are clear before reusing the page).
//!
//! The crate's `examples/echo_ring.rs` runs both ends of a small echo device
//! on two host threads, standing in a thread wake-up for the event channel.
