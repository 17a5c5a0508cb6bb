//! One large capture replayed on several threads.
//!
//! Units of input (see [`input::units`]) already replay in parallel, but a single large
//! capture is one unit, and its connections tie every packet to the ones before it. Here it
//! is split by connection instead of by position: this thread reads and decodes the packets
//! and hands them, in batches, to shards chosen by a hash of each packet's direction-free
//! connection key ([`conntrack::shard_of`]), so every packet of a connection reaches the same
//! shard in capture order. Each shard has its own [`ConnTracker`], [`Judge`] and [`Tally`];
//! records that could not be read are counted by the reader. Decoding stays on one thread
//! (a capture is read in order), so the gain is the tracking and judging taken off it: it
//! pays where those cost more than handing a packet over (`--stateless`, where every packet
//! is judged, went from 0.64 s to 0.47 s on two threads for 2 M packets), and not where
//! they are cheap (64-byte frames over 4,096 connections, whose table stays in cache: the
//! reader is then as busy as one thread was, and wall time stays the same).
//!
//! The report comes out the same as one thread's: a connection's packets, verdict and end
//! depend only on its own packets, and on the idle sweeps, which one [`SweepClock`] here
//! sends to every shard at the packet where a single tracker would have swept. What a
//! capture tallies is counts and sums (a capture has no disagreements, the one ordered
//! list), so the shards' totals merge in any order. Connection ids differ between shards,
//! so `--out`, whose lines name them, never takes this path.

use super::capture::PacketInfo;
use super::conntrack::{self, ConnTracker, SweepClock};
use super::input::{self, FileRecords, KindRef, NextRecord, Position, RecordLoop, RecordRef};
use super::judge::Judge;
use super::run::{self, At, ReplayOptions};
use super::tally::Tally;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::flow::Flow;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Units smaller than this are not split: below it, starting threads costs more than it
/// saves.
pub const SPLIT_MIN_BYTES: u64 = 8 << 20;

/// Packets in one batch handed to a shard: enough that the hand-over is cheap per packet.
const BATCH: usize = 4096;
/// Batches queued for a shard before the reader waits (bounds memory).
const QUEUED: usize = 4;

/// What a shard is handed.
enum Item {
    /// A packet, with what the replay loop reads of its record.
    Packet {
        position: Position,
        time: Option<u64>,
        flow: Flow,
        info: PacketInfo,
    },
    /// Sweep idle connections at this time, as one tracker would have here.
    Sweep(u64),
}

/// Items read from one file.
struct Batch {
    file: Arc<Path>,
    items: Vec<Item>,
}

/// The reader's ends of one shard's channels.
struct ShardLink {
    /// Full batches, to the shard.
    batches: SyncSender<Batch>,
    /// Emptied batches' buffers, back from the shard: reusing them spares the reader an
    /// allocation (and its page faults) per batch.
    spare: Receiver<Vec<Item>>,
}

/// Whether `unit` is worth splitting: a capture (of one or more files) of at least
/// [`SPLIT_MIN_BYTES`] on disk.
pub fn worth_splitting(unit: &[std::path::PathBuf], format: input::InputFormat) -> bool {
    let size: u64 = unit
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    size >= SPLIT_MIN_BYTES && unit.iter().all(|f| input::is_capture(f, format))
}

/// Replays the capture `files` on `shards` threads, and returns their merged totals.
pub fn replay_split(
    engine: &Arc<Engine>,
    files: impl Iterator<Item = FileRecords>,
    options: ReplayOptions,
    shards: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Tally> {
    std::thread::scope(|scope| {
        let (links, workers): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| {
                let (batches, to_shard) = sync_channel(QUEUED);
                let (give_back, spare) = sync_channel(QUEUED + 1);
                let worker = scope.spawn(move || shard(engine, options, to_shard, give_back));
                (ShardLink { batches, spare }, worker)
            })
            .unzip();
        let mut dispatch = Dispatch {
            pending: (0..shards).map(|_| None).collect(),
            shards: links,
            clock: SweepClock::default(),
            tally: Tally::default(),
            progress,
            unreported: 0,
        };
        let read = files
            .into_iter()
            .try_for_each(|mut file| file.read_with(&mut dispatch));
        let Dispatch {
            mut tally,
            unreported,
            shards,
            ..
        } = dispatch;
        // Hanging up ends the shards' loops.
        drop(shards);
        progress(unreported);
        for worker in workers {
            let shard = worker
                .join()
                .map_err(|_| Error::Usage("a replay thread failed".into()))?;
            tally.merge(shard?);
        }
        read.map(|()| tally)
    })
}

/// One shard: replays the packets it is handed, until the reader hangs up.
fn shard(
    engine: &Arc<Engine>,
    options: ReplayOptions,
    batches: Receiver<Batch>,
    give_back: SyncSender<Vec<Item>>,
) -> Result<Tally> {
    let judge = Judge::new(engine.clone());
    let mut tracker = ConnTracker::shard(options.idle_timeout_ms);
    let mut tally = Tally::default();
    for mut batch in batches {
        for item in batch.items.drain(..) {
            match item {
                Item::Sweep(now) => tracker.sweep(now),
                Item::Packet {
                    position,
                    time,
                    flow,
                    info,
                } => {
                    let at = At {
                        file: &batch.file,
                        position,
                        time,
                        flow,
                    };
                    run::packet(
                        &judge,
                        &at,
                        &info,
                        &mut tracker,
                        options,
                        &mut tally,
                        &mut (),
                    )?;
                }
            }
            for c in tracker.take_finished() {
                tally.connection_ended(&c);
            }
        }
        // The reader may have enough spares already; then this one is dropped.
        let _ = give_back.try_send(batch.items);
    }
    for c in tracker.finish() {
        tally.connection_ended(&c);
    }
    Ok(tally)
}

/// The reading side: batches packets for the shards and counts what it skips itself.
struct Dispatch<'p> {
    /// Each shard's batch being filled.
    pending: Vec<Option<Batch>>,
    shards: Vec<ShardLink>,
    clock: SweepClock,
    tally: Tally,
    progress: &'p (dyn Fn(u64) + Sync),
    unreported: u64,
}

impl Dispatch<'_> {
    /// Adds `item`, read from `file`, to shard `to`'s batch, handing the batch over when it
    /// is full. A shard that hung up has failed; joining it says so.
    fn push(&mut self, to: usize, file: &Arc<Path>, item: Item) {
        let spare = &self.shards[to].spare;
        let batch = self.pending[to].get_or_insert_with(|| Batch {
            file: file.clone(),
            items: spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH)),
        });
        batch.items.push(item);
        if batch.items.len() == BATCH {
            self.hand_over(to);
        }
    }

    fn hand_over(&mut self, to: usize) {
        if let Some(batch) = self.pending[to].take() {
            let _ = self.shards[to].batches.send(batch);
        }
    }

    /// Hands over every batch: at the end of a file, whose name the batches carry.
    fn hand_over_all(&mut self) {
        for to in 0..self.pending.len() {
            self.hand_over(to);
        }
    }
}

impl RecordLoop for Dispatch<'_> {
    fn read(&mut self, records: &mut impl NextRecord) -> Result<()> {
        let shards = self.shards.len();
        while let Some(record) = records.next_ref() {
            run::count_progress(&mut self.unreported, self.progress);
            match record {
                Err(skipped) => self.tally.skip(&skipped.reason),
                Ok(RecordRef {
                    file,
                    position,
                    time,
                    flow,
                    kind: KindRef::Packet(info),
                }) => {
                    if let Some(now) = self.clock.tick(time) {
                        (0..shards).for_each(|to| self.push(to, file, Item::Sweep(now)));
                    }
                    let item = Item::Packet {
                        position,
                        time,
                        flow,
                        info,
                    };
                    self.push(conntrack::shard_of(&flow, shards), file, item);
                }
                // `worth_splitting` let only captures through.
                Ok(other) => {
                    return Err(Error::Usage(format!(
                        "{}: not a packet, in a capture",
                        other.source()
                    )))
                }
            }
        }
        self.hand_over_all();
        Ok(())
    }
}
