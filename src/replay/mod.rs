//! `secpath replay`: run recorded traffic (Azure flow logs, packet captures, plain five-tuple
//! files) through the rules and compare with what Azure logged.
//!
//! The readers come first and know nothing about rules: [`input`] opens files, directories,
//! stdin and gzip streams, recognises each input by its content and hands out its records,
//! borrowed ([`input::RecordRef`], what the replay loop reads) or owned
//! ([`input::ReplayRecord`]); [`flowlog`] decodes NSG flow logs (versions 1 and 2) and VNet flow
//! logs (version 4); [`capture`] decodes pcap and pcapng captures. Every record read is either
//! yielded or reported as an [`input::SkippedRecord`] with its reason, so a summary's counts add
//! up and nothing is dropped silently. Readers stream with bounded memory (a flow-log JSON file
//! is the one thing held whole, and its size is capped); hostile lengths are errors, never large
//! allocations, and no input makes them panic.
//!
//! On top of them, [`judge`] decides a record where it was observed (a flow-log tuple at the
//! NSG or VNet point that logged it; a packet or tuple along the whole path), [`conntrack`]
//! groups packets into connections so replies share their connection's verdict (unless, under
//! D6 `--admin-stateless`, an admin rule denies them: the connection counts those), [`tally`]
//! counts, and [`run`] drives the loop ([`shard`] splits one large capture across threads),
//! telling a [`run::Witness`] of every record (`--out`'s lines). [`batch`] runs the same loop
//! and tally file by file, for engines that split the work by file and add up themselves
//! (Spark).

pub mod batch;
pub mod capture;
pub mod conntrack;
pub mod flowlog;
pub mod input;
pub mod judge;
pub mod run;
pub mod shard;
pub mod tally;
