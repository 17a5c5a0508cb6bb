//! Packet captures: legacy pcap (either byte order, micro- or nanosecond time stamps) and
//! pcapng (several sections and interfaces), read with pcap-parser's streaming readers and
//! decoded with etherparse's header slices, without copying packet bytes.
//!
//! # Link types
//! Ethernet (with any stack of 802.1Q / 802.1ad / QinQ tags), Linux cooked capture v1 (113)
//! and v2 (276, decoded here: a 20-byte header with the EtherType first), raw IP (101, 228,
//! 229: the version nibble decides) and BSD loopback (0 and 108: a 4-byte address family in
//! either byte order). Other link types are skipped per packet. A legacy pcap header's link
//! type is the low 16 bits of its LinkType field, whose FCS bits above are not needed.
//!
//! # What a packet becomes
//! The flow's protocol is the IP protocol as the rules see it: IPv4's protocol field, or the
//! first IPv6 header after the hop-by-hop, routing, fragment, destination-options, mobility,
//! HIP and shim6 extension headers. AH and ESP are protocols of their own (NSG and admin rules
//! name them), so an AH-protected TCP segment is an AH packet without ports. TCP and UDP ports
//! are read from the first four bytes of the transport header, so a capture cut short by its
//! snap length inside the TCP header still gives a flow; the TCP flags are absent when byte 13
//! was not captured. The first fragment of a fragmented datagram carries the ports; later
//! fragments of TCP or UDP do not and are skipped ("IP fragment without transport header"),
//! while later fragments of portless protocols are yielded. [`PacketInfo::length`] is the
//! frame's length on the wire (the capture's original length).
//!
//! # Reading
//! A legacy pcap file on disk is mapped into memory and its frames are decoded where they lie
//! ([`CaptureRecords::mapped`]); pcapng, gzip, stdin and anything that cannot be mapped go
//! through pcap-parser's streaming readers. Both read the same bytes the same way, damage
//! included (a test compares them).
//!
//! # Bounded memory
//! The streaming reader keeps one buffer (256 KiB, grown up to [`MAX_BLOCK_BYTES`] for a
//! larger block); a mapped file takes address space, which the kernel pages in and out.
//! A block that claims to be larger than that (a corrupt or hostile length such as 4 GiB)
//! ends the file with a skip at its byte offset, as do truncation and unparsable blocks: a
//! capture cannot be resynchronised after a broken block.

use crate::flow::{proto, Flow};
use crate::replay::input::{KindRef, NextRecord, Position, RecordRef, RecordSource, SkippedRecord};
use etherparse::{
    Ethernet2HeaderSlice, IpAuthHeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice,
    Ipv6RawExtHeaderSlice, LaxIpv4Slice, SingleVlanHeaderSlice,
};
use memmap2::Mmap;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, LegacyPcapReader, Linktype, PcapBlockOwned, PcapError, PcapHeader,
    PcapNGReader,
};
use std::borrow::Cow;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The largest capture block (packet record) read: 16 MiB, far above any snap length.
pub const MAX_BLOCK_BYTES: usize = 16 << 20;

/// The reader's starting buffer.
const INITIAL_BUFFER: usize = 256 << 10;

/// Interfaces kept per pcapng section; more is taken as a corrupt file.
const MAX_INTERFACES: usize = 1 << 16;

/// VLAN tags and IPv6 extension headers followed before giving up on a packet.
const MAX_HEADERS: usize = 8;

/// What connection tracking needs from a packet besides its five-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// The TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10, ...), when TCP and captured.
    pub tcp_flags: Option<u8>,
    /// The frame's length on the wire (the capture's original length), in bytes.
    pub length: u32,
    /// Part of a fragmented IP datagram (first or later fragment).
    pub fragment: bool,
}

/// A frame decoded down to its five-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodedPacket {
    /// The five-tuple (ports for TCP and UDP only).
    pub flow: Flow,
    /// The TCP flags byte, when TCP and captured.
    pub tcp_flags: Option<u8>,
    /// Part of a fragmented IP datagram.
    pub fragment: bool,
}

/// Why a frame gives no five-tuple.
pub type SkipReason = Cow<'static, str>;

/// Decodes one captured frame of link type `link` (a pcap `LINKTYPE_` number). Ethernet
/// frames of IPv4 TCP or UDP, nearly every packet of most captures, are read at fixed offsets
/// first (see `ipv4_fast_path`); everything else goes through the full decoder.
#[inline]
pub fn decode_packet(link: i32, frame: &[u8]) -> Result<DecodedPacket, SkipReason> {
    if link == Linktype::ETHERNET.0 && frame.get(12..14) == Some(&[0x08, 0x00]) {
        if let Some(decoded) = frame.get(14..).and_then(ipv4_fast_path) {
            return Ok(decoded);
        }
    }
    decode_frame(link, frame)
}

/// The full decoder behind [`decode_packet`].
#[inline(never)]
fn decode_frame(link: i32, frame: &[u8]) -> Result<DecodedPacket, SkipReason> {
    match Linktype(link) {
        Linktype::ETHERNET => {
            let ethernet =
                Ethernet2HeaderSlice::from_slice(frame).map_err(|_| "truncated Ethernet header")?;
            let rest = &frame[ethernet.slice().len()..];
            ether_payload(ethernet.ether_type().0, rest)
        }
        Linktype::LINUX_SLL => {
            let protocol = be16(frame, 14).ok_or("truncated Linux SLL header")?;
            ether_payload(protocol, &frame[16..])
        }
        Linktype::LINUX_SLL2 => {
            let protocol = be16(frame, 0).ok_or("truncated Linux SLL2 header")?;
            if frame.len() < 20 {
                return Err("truncated Linux SLL2 header".into());
            }
            ether_payload(protocol, &frame[20..])
        }
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => decode_ip(frame),
        Linktype::NULL | Linktype::LOOP => {
            let family = frame.get(..4).ok_or("truncated loopback header")?;
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            match le.min(be) {
                // AF_INET; AF_INET6 on Linux, the BSDs and macOS.
                2 | 10 | 24 | 28 | 30 => decode_ip(&frame[4..]),
                other => Err(format!("not IP: loopback address family {other}").into()),
            }
        }
        Linktype(other) => Err(format!("unsupported link type {other}").into()),
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Follows VLAN tags from an EtherType to the IP header.
fn ether_payload(mut ether_type: u16, mut rest: &[u8]) -> Result<DecodedPacket, SkipReason> {
    for _ in 0..MAX_HEADERS {
        match ether_type {
            0x0800 | 0x86dd => {
                let version = if ether_type == 0x0800 { 4 } else { 6 };
                return match rest.first().map(|b| b >> 4) {
                    Some(v) if v != version => Err(format!(
                        "EtherType 0x{ether_type:04x} says IPv{version}, the header IP version {v}"
                    )
                    .into()),
                    _ => decode_ip(rest),
                };
            }
            0x8100 | 0x88a8 | 0x9100 => {
                let vlan =
                    SingleVlanHeaderSlice::from_slice(rest).map_err(|_| "truncated VLAN header")?;
                ether_type = vlan.ether_type().0;
                rest = &rest[vlan.slice().len()..];
            }
            0x0806 => return Err("not IP: ARP".into()),
            0x8035 => return Err("not IP: RARP".into()),
            t if t < 0x0600 => return Err("not IP: IEEE 802.3 frame without an EtherType".into()),
            t => return Err(format!("not IP: EtherType 0x{t:04x}").into()),
        }
    }
    Err("too many VLAN tags".into())
}

fn decode_ip(packet: &[u8]) -> Result<DecodedPacket, SkipReason> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(packet),
        Some(6) => decode_ipv6(packet),
        Some(v) => Err(format!("not IP: IP version {v}").into()),
        None => Err("truncated IP header".into()),
    }
}

fn decode_ipv4(packet: &[u8]) -> Result<DecodedPacket, SkipReason> {
    // Raw-IP, SLL and VLAN-tagged frames come here without the Ethernet shortcut.
    if let Some(decoded) = ipv4_fast_path(packet) {
        return Ok(decoded);
    }
    ipv4_full(packet)
}

/// The common case at fixed offsets: a 20-byte IPv4 header without options, not a fragment,
/// carrying TCP or UDP with at least the ports captured. Anything else (and anything this
/// would misread) goes to [`ipv4_full`]; a test checks that both agree.
#[inline]
fn ipv4_fast_path(packet: &[u8]) -> Option<DecodedPacket> {
    let header: &[u8; 24] = packet.get(..24)?.try_into().ok()?;
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let fragment = u16::from_be_bytes([header[6], header[7]]) & 0x3fff;
    let protocol = header[9];
    if header[0] != 0x45 || fragment != 0 || total < 24 || !Flow::has_ports(protocol) {
        return None;
    }
    let end = total.min(packet.len());
    let tcp_flags = if protocol == proto::TCP && end > 33 {
        packet.get(33).copied()
    } else {
        None
    };
    let address =
        |at: usize| IpAddr::from([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    Some(DecodedPacket {
        flow: Flow {
            protocol,
            src: address(12),
            src_port: Some(u16::from_be_bytes([header[20], header[21]])),
            dst: address(16),
            dst_port: Some(u16::from_be_bytes([header[22], header[23]])),
        },
        tcp_flags,
        fragment: false,
    })
}

fn ipv4_full(packet: &[u8]) -> Result<DecodedPacket, SkipReason> {
    use etherparse::err::ipv4::HeaderSliceError;
    let (slice, _auth_error) = LaxIpv4Slice::from_slice(packet).map_err(|e| match e {
        HeaderSliceError::Len(_) => Cow::Borrowed("truncated IPv4 header"),
        HeaderSliceError::Content(c) => match c {
            etherparse::err::ipv4::HeaderError::UnexpectedVersion { version_number } => {
                format!("bad IPv4 header: IP version {version_number}").into()
            }
            etherparse::err::ipv4::HeaderError::HeaderLengthSmallerThanHeader { ihl } => {
                format!("bad IPv4 header: header length {ihl} words, under the minimum of 5").into()
            }
        },
    })?;
    let header = slice.header();
    let protocol = header.protocol().0;
    let later_fragment = header.fragments_offset().value() != 0;
    let fragment = later_fragment || header.more_fragments();
    // The payload after the header (etherparse falls back to the captured length when the
    // total length is larger, as in snap-length-cut or offloaded captures).
    let start = header.slice().len();
    let total = usize::from(header.total_len());
    let end = if total >= start && total <= packet.len() {
        total
    } else {
        packet.len()
    };
    let payload = packet.get(start..end).unwrap_or(&[]);
    let addresses = (
        IpAddr::V4(header.source_addr()),
        IpAddr::V4(header.destination_addr()),
    );
    transport(protocol, addresses, payload, fragment, later_fragment)
}

fn decode_ipv6(packet: &[u8]) -> Result<DecodedPacket, SkipReason> {
    use etherparse::err::ipv6::HeaderSliceError;
    let header = Ipv6HeaderSlice::from_slice(packet).map_err(|e| match e {
        HeaderSliceError::Len(_) => Cow::Borrowed("truncated IPv6 header"),
        HeaderSliceError::Content(c) => format!("bad IPv6 header: {c}").into(),
    })?;
    let start = header.slice().len();
    let declared = usize::from(header.payload_length());
    // Payload length 0 is a jumbogram or an offloaded capture: take what was captured.
    let end = if declared == 0 {
        packet.len()
    } else {
        (start + declared).min(packet.len())
    };
    let mut rest = packet.get(start..end).unwrap_or(&[]);
    let mut next = header.next_header().0;
    let mut fragment = false;
    let mut later_fragment = false;
    let mut headers = 0;
    loop {
        match next {
            // hop-by-hop, routing, destination options, mobility, HIP, shim6
            0 | 43 | 60 | 135 | 139 | 140 => {
                let ext = Ipv6RawExtHeaderSlice::from_slice(rest)
                    .map_err(|_| "truncated IPv6 extension header")?;
                next = ext.next_header().0;
                rest = &rest[ext.slice().len()..];
            }
            44 => {
                let frag = Ipv6FragmentHeaderSlice::from_slice(rest)
                    .map_err(|_| "truncated IPv6 fragment header")?;
                next = frag.next_header().0;
                rest = &rest[frag.slice().len()..];
                fragment |= frag.is_fragmenting_payload();
                if frag.fragment_offset().value() != 0 {
                    // What follows is the middle of the datagram, not headers.
                    later_fragment = true;
                    break;
                }
            }
            proto::AH => {
                // AH is the protocol the rules see; check that its header is there at least.
                IpAuthHeaderSlice::from_slice(rest).map_err(|_| "truncated AH header")?;
                break;
            }
            _ => break,
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err("too many IPv6 extension headers".into());
        }
    }
    let addresses = (
        IpAddr::V6(header.source_addr()),
        IpAddr::V6(header.destination_addr()),
    );
    transport(next, addresses, rest, fragment, later_fragment)
}

fn transport(
    protocol: u8,
    (src, dst): (IpAddr, IpAddr),
    payload: &[u8],
    fragment: bool,
    later_fragment: bool,
) -> Result<DecodedPacket, SkipReason> {
    let mut flow = Flow {
        protocol,
        src,
        src_port: None,
        dst,
        dst_port: None,
    };
    let mut tcp_flags = None;
    if Flow::has_ports(protocol) {
        if later_fragment {
            return Err("IP fragment without transport header".into());
        }
        let (src_port, dst_port) = match (be16(payload, 0), be16(payload, 2)) {
            (Some(s), Some(d)) => (s, d),
            _ if protocol == proto::TCP => return Err("truncated TCP header".into()),
            _ => return Err("truncated UDP header".into()),
        };
        flow.src_port = Some(src_port);
        flow.dst_port = Some(dst_port);
        if protocol == proto::TCP {
            tcp_flags = payload.get(13).copied();
        }
    }
    Ok(DecodedPacket {
        flow,
        tcp_flags,
        fragment,
    })
}

/// Which capture format a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureKind {
    /// Legacy pcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// A pcapng interface: its link type and clock.
#[derive(Clone, Copy)]
struct Interface {
    link: i32,
    /// Time-stamp units per second; `None` when the interface's `if_tsresol` is unusable.
    units_per_second: Option<u64>,
    offset_seconds: i64,
}

/// What the blocks read so far say about the ones to come.
struct State {
    file: Arc<Path>,
    kind: CaptureKind,
    big_endian: bool,
    /// Legacy pcap: the file's link type and whether its fractions are nanoseconds.
    legacy_link: i32,
    nanoseconds: bool,
    /// Legacy pcap: pcap-parser's parser for this file's frames, once its header is read.
    legacy_frames: Option<FrameParser>,
    /// pcapng: the current section's interfaces.
    interfaces: Vec<Interface>,
    packets: u64,
}

/// pcap-parser's parser of one legacy pcap frame (record header and data).
type FrameParser = fn(&[u8]) -> nom::IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// The frame parser pcap-parser's reader picks for a file with this header.
fn frame_parser(header: &PcapHeader) -> FrameParser {
    match (header.is_modified_format(), header.is_bigendian()) {
        (true, _) => parse_pcap_frame_modified,
        (false, true) => parse_pcap_frame_be,
        (false, false) => parse_pcap_frame,
    }
}

/// Whether a block that claims `declared` bytes is refused, as [`CaptureRecords::grow`]
/// refuses it: more than the streaming reader's buffer may grow to (with room for the
/// block's header). Mapped files refuse the same blocks, so they read as streams do.
fn oversized(declared: u64) -> bool {
    declared.saturating_add(64) > MAX_BLOCK_BYTES as u64
}

/// A legacy pcap file mapped into memory, read through pcap-parser's reader interface with the
/// whole file as its buffer: frames are decoded where they lie, none is copied, and the cache
/// keeps the connection table instead of a stream of copied bytes (an IMIX capture spent as
/// long copying as judging). It answers as the streaming reader does at the same bytes: a
/// block the streaming reader could not hold is `BufferTooSmall` (then
/// [`CaptureRecords::grow`]'s message), a block cut short by the end of the file
/// `UnexpectedEof`.
struct MappedPcap {
    map: Mmap,
    header: PcapHeader,
    parse: FrameParser,
    consumed: usize,
    big_endian: bool,
    /// The bytes of a frame's record header: 16, or 24 in the modified format.
    record_header: usize,
    /// Where the cache lines asked for ahead of `consumed` end (see [`prefetch`]).
    prefetched: usize,
}

/// How far ahead of the packet being decoded a mapped file's bytes are asked for: a few
/// packets' worth of memory latency, few enough lines to stay within the CPU's fill buffers.
const PREFETCH_AHEAD: usize = 2048;

/// Asks the CPU to bring the cache line of `bytes[at]` in for one use, keeping it out of the
/// caches the connection table lives in. Frames follow one another by their lengths, so
/// without this each frame header of a mapped file is a cache miss found only when the
/// previous one has been read.
#[inline]
fn prefetch(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = bytes.get(at) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_NTA};
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault,
        // and SSE is part of every x86-64 CPU.
        unsafe { _mm_prefetch::<_MM_HINT_NTA>((byte as *const u8).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

impl MappedPcap {
    /// The frame at the front has its record header and claims more than the streaming
    /// reader would hold (see [`oversized`]).
    fn oversized_front(&self) -> bool {
        let data = self.data();
        let (Some(b), true) = (data.get(8..12), data.len() >= self.record_header) else {
            return false;
        };
        let b = [b[0], b[1], b[2], b[3]];
        let caplen = if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        oversized(u64::from(caplen))
    }
}

impl PcapReaderIterator for MappedPcap {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&[u8]>> {
        if self.consumed == 0 {
            let block = PcapBlockOwned::from(self.header.clone());
            return Ok((self.header.size(), block));
        }
        if self.data().is_empty() {
            return Err(PcapError::Eof);
        }
        if self.oversized_front() {
            return Err(PcapError::BufferTooSmall);
        }
        let data = self.data();
        match (self.parse)(data) {
            Ok((rest, frame)) => Ok((data.len() - rest.len(), PcapBlockOwned::from(frame))),
            Err(nom::Err::Incomplete(_)) => Err(PcapError::UnexpectedEof),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consumed = self.consumed.saturating_add(offset).min(self.map.len());
        let ahead = self
            .consumed
            .saturating_add(PREFETCH_AHEAD)
            .min(self.map.len());
        self.prefetched = self.prefetched.max(self.consumed);
        while self.prefetched < ahead {
            prefetch(&self.map, self.prefetched);
            self.prefetched += 64;
        }
    }

    fn consume_noshift(&mut self, offset: usize) {
        self.consume(offset);
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        Ok(())
    }

    fn position(&self) -> usize {
        0
    }

    fn grow(&mut self, _new_size: usize) -> bool {
        false
    }

    fn data(&self) -> &[u8] {
        self.map.get(self.consumed..).unwrap_or_default()
    }

    fn reader_exhausted(&self) -> bool {
        true
    }
}

/// A decoded packet and where it was read; [`CaptureRecords::next_ref`] adds the file.
#[derive(Clone, Copy)]
struct Captured {
    position: Position,
    time: Option<u64>,
    flow: Flow,
    info: PacketInfo,
}

impl Captured {
    fn record(self, file: &Arc<Path>) -> RecordRef<'_> {
        RecordRef {
            file,
            position: self.position,
            time: self.time,
            flow: self.flow,
            kind: KindRef::Packet(self.info),
        }
    }
}

/// The packets of one capture.
pub struct CaptureRecords {
    reader: Box<dyn PcapReaderIterator + Send>,
    state: State,
    capacity: usize,
    done: bool,
    read_error: Arc<Mutex<Option<String>>>,
}

/// Fills pcap-parser's buffer as far as the stream allows in one call (pipes and gzip
/// decoders return short reads, which pcap-parser would take for a short file), and keeps the
/// last I/O error, which pcap-parser reduces to "read error".
struct FillingReader {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<String>>>,
}

impl Read for FillingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e.to_string());
                    }
                    if filled > 0 {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(filled)
    }
}

enum Step {
    Consume(usize),
    Refill,
    Grow,
    End,
    Fail(String),
    /// The parser wanted bytes past the data: the file ends inside the block, or the
    /// block's fields run past its own length.
    Truncated,
    /// The parser refused the block.
    Corrupt(String),
}

impl CaptureRecords {
    /// Starts reading a capture of the given kind. Fails (as a skip of the whole file) when
    /// its header cannot be read.
    pub fn open(
        file: Arc<Path>,
        reader: Box<dyn Read + Send>,
        kind: CaptureKind,
    ) -> Result<CaptureRecords, String> {
        let read_error = Arc::new(Mutex::new(None));
        let filling = FillingReader {
            inner: reader,
            error: read_error.clone(),
        };
        let header_error = |e: PcapError<&[u8]>| match e {
            PcapError::Incomplete(_) | PcapError::Eof | PcapError::UnexpectedEof => {
                "capture truncated: its header is incomplete".to_string()
            }
            other => format!("unreadable capture header: {}", describe(&other)),
        };
        let reader: Box<dyn PcapReaderIterator + Send> = match kind {
            CaptureKind::Pcap => {
                Box::new(LegacyPcapReader::new(INITIAL_BUFFER, filling).map_err(header_error)?)
            }
            CaptureKind::Pcapng => {
                Box::new(PcapNGReader::new(INITIAL_BUFFER, filling).map_err(header_error)?)
            }
        };
        Ok(CaptureRecords::with_reader(file, kind, reader, read_error))
    }

    /// Reads a legacy pcap file mapped into memory (see `MappedPcap`). `None` when its
    /// header does not read: the streaming reader then says why.
    pub fn mapped(file: Arc<Path>, map: Mmap) -> Option<CaptureRecords> {
        let (_, header) = parse_pcap_header(&map).ok()?;
        let reader = MappedPcap {
            parse: frame_parser(&header),
            big_endian: header.is_bigendian(),
            record_header: if header.is_modified_format() { 24 } else { 16 },
            header,
            map,
            consumed: 0,
            prefetched: 0,
        };
        let no_read_errors = Arc::new(Mutex::new(None));
        Some(CaptureRecords::with_reader(
            file,
            CaptureKind::Pcap,
            Box::new(reader),
            no_read_errors,
        ))
    }

    fn with_reader(
        file: Arc<Path>,
        kind: CaptureKind,
        reader: Box<dyn PcapReaderIterator + Send>,
        read_error: Arc<Mutex<Option<String>>>,
    ) -> CaptureRecords {
        CaptureRecords {
            reader,
            state: State {
                file,
                kind,
                big_endian: false,
                legacy_link: Linktype::ETHERNET.0,
                nanoseconds: false,
                legacy_frames: None,
                interfaces: Vec::new(),
                packets: 0,
            },
            capacity: INITIAL_BUFFER,
            done: false,
            read_error,
        }
    }

    /// The length the block at the front of the buffer claims, if its header is there.
    fn declared_block_length(&self) -> Option<u64> {
        let at = match self.state.kind {
            CaptureKind::Pcap => 8,   // caplen, after the time stamp
            CaptureKind::Pcapng => 4, // block total length, after the type
        };
        self.word_at(at).map(u64::from)
    }

    /// The length of the pcapng block at the front when it is plausible (a multiple of 4,
    /// at least 12) and all its bytes are buffered: a damaged block can then be stepped
    /// over by that length, and the packets after it read. Legacy pcap has no such length.
    ///
    /// Only packet blocks (and blocks the reader ignores) are stepped over: without a
    /// section or interface description, the blocks after it would be misread.
    fn whole_pcapng_block(&self) -> Option<usize> {
        const SECTION: u32 = 0x0a0d_0d0a;
        const INTERFACE: u32 = 1;
        let n = usize::try_from(self.declared_block_length()?).ok()?;
        let plausible = self.state.kind == CaptureKind::Pcapng && n >= 12 && n % 4 == 0;
        let kind = self.word_at(0)?;
        let structural = kind == SECTION || kind == INTERFACE;
        (plausible && !structural && n <= self.reader.data().len()).then_some(n)
    }

    /// The 32-bit word at `at` in the unread data, in the capture's byte order.
    fn word_at(&self, at: usize) -> Option<u32> {
        let b = self.reader.data().get(at..at + 4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(if self.state.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// Why a pcapng block of `n` bytes is refused when its trailing length differs from its
    /// leading one, as pcapng requires them equal (pcap-parser says only "verification").
    fn trailer_mismatch(&self, n: usize) -> Option<String> {
        let trailer = self.word_at(n - 4)?;
        (trailer as usize != n)
            .then(|| format!("its trailing length {trailer} differs from its leading length {n}"))
    }

    /// Steps over the damaged pcapng block of `n` bytes at `offset`, as a skip.
    fn skip_block(
        &mut self,
        offset: u64,
        n: usize,
        why: &str,
    ) -> Option<Result<Captured, SkippedRecord>> {
        self.reader.consume_noshift(n);
        Some(Err(SkippedRecord {
            source: RecordSource {
                file: self.state.file.clone(),
                position: Position::Offset(offset),
            },
            reason: format!("corrupt pcapng block of {n} bytes ({why}): stepped over"),
        }))
    }

    fn fail(&mut self, offset: u64, reason: String) -> Option<Result<Captured, SkippedRecord>> {
        self.done = true;
        Some(Err(SkippedRecord {
            source: RecordSource {
                file: self.state.file.clone(),
                position: Position::Offset(offset),
            },
            reason,
        }))
    }
}

impl NextRecord for CaptureRecords {
    /// The next packet (or skip), borrowing the file's name.
    #[inline]
    fn next_ref(&mut self) -> Option<Result<RecordRef<'_>, SkippedRecord>> {
        let item = match self.frame_in_buffer() {
            Some(item) => item,
            None => self.next_block()?,
        };
        Some(item.map(|packet| packet.record(&self.state.file)))
    }
}

impl CaptureRecords {
    /// A legacy pcap frame whose bytes are all in the buffer, parsed in place by pcap-parser's
    /// frame parser: the common case, without the reader's block enum and calls per packet.
    /// `None` sends everything else (the header, a frame that needs a refill, pcapng) to
    /// [`CaptureRecords::next_block`].
    #[inline]
    fn frame_in_buffer(&mut self) -> Option<Result<Captured, SkippedRecord>> {
        let parse = self.state.legacy_frames?;
        if self.done {
            return None;
        }
        let data = self.reader.data();
        let (rest, frame) = parse(data).ok()?;
        if oversized(u64::from(frame.caplen)) {
            return None;
        }
        let length = data.len() - rest.len();
        let offset = self.reader.consumed() as u64;
        let item = self.state.legacy_frame(&frame, offset);
        self.reader.consume_noshift(length);
        Some(item)
    }

    /// The next packet or skip through pcap-parser's reader: refills, grows the buffer, and
    /// ends the file on damage.
    #[inline(never)]
    fn next_block(&mut self) -> Option<Result<Captured, SkippedRecord>> {
        while !self.done {
            let offset = self.reader.consumed() as u64;
            let mut item = None;
            // pcap-parser 0.17 subtracts 12 from a pcapng block's length after checking it
            // only against a smaller header size: refuse such blocks before it sees them.
            if let Some(n) = self.declared_block_length().filter(|n| *n < 12) {
                if self.state.kind == CaptureKind::Pcapng {
                    return self.fail(
                        offset,
                        format!(
                            "corrupt capture: a block claims {n} bytes, under the 12-byte minimum"
                        ),
                    );
                }
            }
            let step = match self.reader.next() {
                Ok((length, block)) => {
                    item = self.state.block(block, offset);
                    Step::Consume(length)
                }
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => {
                    let why = self
                        .read_error
                        .lock()
                        .ok()
                        .and_then(|e| e.clone())
                        .unwrap_or_else(|| "unknown".to_string());
                    Step::Fail(format!("read error: {why}"))
                }
                Err(other) => Step::Corrupt(describe(&other)),
            };
            match step {
                Step::Consume(length) => {
                    // No shift here: `refill` moves the unread tail when it needs room, so
                    // each byte is moved at most once per buffer turn, not on every block.
                    self.reader.consume_noshift(length);
                    if item.is_some() {
                        return item;
                    }
                }
                Step::End => self.done = true,
                // pcap-parser's reader, once it has seen the end of the file, takes an empty
                // buffer not at position 0 (blocks consumed after a stepped-over one) for a
                // truncated block: with no byte left, it is the end.
                Step::Truncated if self.reader.data().is_empty() => self.done = true,
                Step::Fail(reason) => return self.fail(offset, reason),
                Step::Truncated => {
                    return match self.whole_pcapng_block() {
                        Some(n) => self.skip_block(offset, n, "its fields run past its length"),
                        None => self.fail(
                            offset,
                            "capture truncated: the last block ends past the end of the file"
                                .to_string(),
                        ),
                    }
                }
                Step::Corrupt(why) => {
                    return match self.whole_pcapng_block() {
                        Some(n) => {
                            let why = self.trailer_mismatch(n).unwrap_or(why);
                            self.skip_block(offset, n, &why)
                        }
                        None => self.fail(offset, format!("corrupt capture: {why}")),
                    }
                }
                // The parser wants more than a whole block that is buffered: its fields run
                // past its length, and more data would not help.
                Step::Refill | Step::Grow if self.whole_pcapng_block().is_some() => {
                    let n = self.whole_pcapng_block().unwrap_or_default();
                    return self.skip_block(offset, n, "its fields run past its length");
                }
                Step::Refill => {
                    let before = self.reader.data().len();
                    if self.reader.refill().is_err() {
                        let why = self.read_error.lock().ok().and_then(|e| e.clone());
                        let why = why.unwrap_or_else(|| "unknown".to_string());
                        return self.fail(offset, format!("read error: {why}"));
                    }
                    if self.reader.data().len() == before && !self.reader.reader_exhausted() {
                        // The buffer is full and the block still incomplete.
                        if let Some(item) = self.grow(offset) {
                            return Some(item);
                        }
                    }
                }
                Step::Grow => {
                    if let Some(item) = self.grow(offset) {
                        return Some(item);
                    }
                }
            }
        }
        None
    }
}

impl CaptureRecords {
    /// Makes room for the block at `offset`, or ends the file when it is too large.
    fn grow(&mut self, offset: u64) -> Option<Result<Captured, SkippedRecord>> {
        let declared = self.declared_block_length();
        let wanted = declared.map_or(self.capacity.saturating_mul(2) as u64, |n| n + 64);
        if wanted > MAX_BLOCK_BYTES as u64 || self.capacity >= MAX_BLOCK_BYTES {
            let limit = MAX_BLOCK_BYTES >> 20;
            let reason = match declared {
                Some(n) => {
                    format!("corrupt capture: a block claims {n} bytes, over the {limit} MiB limit")
                }
                None => format!("corrupt capture: a block is larger than the {limit} MiB limit"),
            };
            return self.fail(offset, reason);
        }
        // `wanted` is at most MAX_BLOCK_BYTES here, so it fits in usize.
        let size = (wanted as usize).max(self.capacity.saturating_mul(2));
        self.capacity = size.min(MAX_BLOCK_BYTES);
        self.reader.grow(self.capacity);
        None
    }
}

impl State {
    fn block(
        &mut self,
        block: PcapBlockOwned<'_>,
        offset: u64,
    ) -> Option<Result<Captured, SkippedRecord>> {
        match block {
            PcapBlockOwned::LegacyHeader(header) => {
                self.legacy_link = link_type(header.network.0);
                self.nanoseconds = header.is_nanosecond_precision();
                self.big_endian = header.is_bigendian();
                self.legacy_frames = Some(frame_parser(&header));
                None
            }
            PcapBlockOwned::Legacy(frame) => Some(self.legacy_frame(&frame, offset)),
            PcapBlockOwned::NG(Block::SectionHeader(section)) => {
                self.interfaces.clear();
                self.big_endian = section.big_endian();
                None
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(interface)) => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(Interface {
                        link: interface.linktype.0,
                        units_per_second: units_per_second(interface.if_tsresol),
                        offset_seconds: interface.ts_offset(),
                    });
                }
                None
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(packet)) => {
                let Some(interface) = self.interfaces.get(packet.if_id as usize).copied() else {
                    self.packets += 1;
                    return Some(Err(self.skip(
                        offset,
                        "packet on an interface its section does not describe",
                    )));
                };
                let ticks = (u64::from(packet.ts_high) << 32) | u64::from(packet.ts_low);
                let time = interface
                    .units_per_second
                    .and_then(|units| pcapng_millis(ticks, units, interface.offset_seconds));
                let data = packet.packet_data();
                Some(self.packet(interface.link, data, packet.origlen, time, offset))
            }
            PcapBlockOwned::NG(Block::SimplePacket(packet)) => {
                let Some(interface) = self.interfaces.first().copied() else {
                    self.packets += 1;
                    return Some(Err(self.skip(
                        offset,
                        "packet on an interface its section does not describe",
                    )));
                };
                let data = packet.packet_data();
                Some(self.packet(interface.link, data, packet.origlen, None, offset))
            }
            PcapBlockOwned::NG(Block::Unknown(unknown)) if unknown.block_type == 2 => {
                self.packets += 1;
                Some(Err(self.skip(
                    offset,
                    "obsolete pcapng Packet Block (type 2) is not read",
                )))
            }
            PcapBlockOwned::NG(_) => None,
        }
    }

    #[inline]
    fn legacy_frame(
        &mut self,
        frame: &LegacyPcapBlock<'_>,
        offset: u64,
    ) -> Result<Captured, SkippedRecord> {
        let fraction_ms = if self.nanoseconds { 1_000_000 } else { 1_000 };
        let time = u64::from(frame.ts_sec) * 1000 + u64::from(frame.ts_usec) / fraction_ms;
        self.packet(
            self.legacy_link,
            frame.data,
            frame.origlen,
            Some(time),
            offset,
        )
    }

    fn skip(&self, offset: u64, reason: impl Into<String>) -> SkippedRecord {
        SkippedRecord {
            source: RecordSource {
                file: self.file.clone(),
                position: Position::Packet {
                    number: self.packets,
                    offset,
                },
            },
            reason: reason.into(),
        }
    }

    #[inline]
    fn packet(
        &mut self,
        link: i32,
        data: &[u8],
        length: u32,
        time: Option<u64>,
        offset: u64,
    ) -> Result<Captured, SkippedRecord> {
        self.packets += 1;
        match decode_packet(link, data) {
            Ok(decoded) => Ok(Captured {
                position: Position::Packet {
                    number: self.packets,
                    offset,
                },
                time,
                flow: decoded.flow,
                info: PacketInfo {
                    tcp_flags: decoded.tcp_flags,
                    length,
                    fragment: decoded.fragment,
                },
            }),
            Err(reason) => Err(self.skip(offset, reason)),
        }
    }
}

/// The link type in a legacy pcap header's LinkType field: its low 16 bits. The bits above
/// may say that each frame ends with a frame check sequence (bit 26, and its length in 16-bit
/// words in bits 28-31); it is left in the frame, where the IP header's length bounds what
/// is decoded, as with Ethernet padding.
fn link_type(field: i32) -> i32 {
    field & 0xffff
}

/// Time-stamp units per second of a pcapng `if_tsresol` value (pcap-parser's, 6 when the
/// option is absent): 10^value, or 2^(its low 7 bits) when its high bit is set. pcap-parser
/// 0.17's `ts_resolution` refuses every power of two (it compares the value with 63 before
/// masking the high bit off), so the value is decoded here. `None` when it does not fit.
fn units_per_second(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(u32::from(tsresol))
    } else {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    }
}

/// A pcapng time stamp in Unix milliseconds.
fn pcapng_millis(ticks: u64, units_per_second: u64, offset_seconds: i64) -> Option<u64> {
    if units_per_second == 0 {
        return None;
    }
    let millis = u128::from(ticks) * 1000 / u128::from(units_per_second);
    let offset = i128::from(offset_seconds) * 1000;
    u64::try_from(i128::try_from(millis).ok()? + offset).ok()
}

/// pcap-parser's error without the raw bytes its `Display` would print.
fn describe(error: &PcapError<&[u8]>) -> String {
    match error {
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("invalid block ({})", kind.description())
        }
        PcapError::HeaderNotRecognized => "not a pcap or pcapng header".to_string(),
        other => format!("{other:?}"),
    }
}

/// Writes small pcap and pcapng files and the frames inside them, for tests.
#[cfg(test)]
pub(crate) mod testkit {
    /// An Ethernet II frame.
    pub fn eth(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend(ether_type.to_be_bytes());
        f.extend(payload);
        f
    }

    /// An Ethernet II frame with VLAN tags (TPID, VLAN id), outermost first.
    pub fn eth_vlan(tags: &[(u16, u16)], ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut inner = Vec::new();
        for (i, (_, vid)) in tags.iter().enumerate() {
            inner.extend(vid.to_be_bytes());
            let next = tags.get(i + 1).map_or(ether_type, |t| t.0);
            inner.extend(next.to_be_bytes());
        }
        inner.extend(payload);
        eth(tags.first().map_or(ether_type, |t| t.0), &inner)
    }

    /// A Linux cooked capture (v1) frame.
    pub fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        f.extend(protocol.to_be_bytes());
        f.extend(payload);
        f
    }

    /// A Linux cooked capture v2 frame.
    pub fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = protocol.to_be_bytes().to_vec();
        f.extend([0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        f.extend(payload);
        f
    }

    /// An IPv4 packet; `fragment` is (offset in 8-byte units, more fragments).
    pub fn ipv4(
        protocol: u8,
        src: [u8; 4],
        dst: [u8; 4],
        payload: &[u8],
        fragment: (u16, bool),
    ) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let flags = fragment.0 | if fragment.1 { 0x2000 } else { 0 };
        let mut p = vec![0x45, 0];
        p.extend(total.to_be_bytes());
        p.extend([0x12, 0x34]);
        p.extend(flags.to_be_bytes());
        p.extend([64, protocol, 0, 0]);
        p.extend(src);
        p.extend(dst);
        p.extend(payload);
        p
    }

    /// An IPv6 packet whose payload starts with `next` (extension headers included in it).
    pub fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend((payload.len() as u16).to_be_bytes());
        p.extend([next, 64]);
        p.extend(src);
        p.extend(dst);
        p.extend(payload);
        p
    }

    /// An 8-byte IPv6 extension header (hop-by-hop, destination options) before `rest`.
    pub fn ipv6_ext(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![next, 0, 1, 4, 0, 0, 0, 0];
        p.extend(rest);
        p
    }

    /// An IPv6 fragment header before `rest`.
    pub fn ipv6_frag(next: u8, offset_units: u16, more: bool, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![next, 0];
        p.extend((offset_units << 3 | u16::from(more)).to_be_bytes());
        p.extend([0, 0, 0, 7]);
        p.extend(rest);
        p
    }

    /// A 20-byte TCP header.
    pub fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut t = sport.to_be_bytes().to_vec();
        t.extend(dport.to_be_bytes());
        t.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t
    }

    /// An 8-byte UDP header and 4 bytes of payload.
    pub fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend(dport.to_be_bytes());
        u.extend([0, 12, 0, 0, 1, 2, 3, 4]);
        u
    }

    /// An ICMP (or ICMPv6) echo request header.
    pub fn icmp_echo(icmp_type: u8) -> Vec<u8> {
        vec![icmp_type, 0, 0, 0, 0, 1, 0, 1]
    }

    /// An ARP request for Ethernet/IPv4.
    pub fn arp() -> Vec<u8> {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1];
        a.extend([0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        a
    }

    /// One captured frame: seconds, fraction (µs or ns), data, original length.
    pub struct Frame<'a> {
        pub seconds: u32,
        pub fraction: u32,
        pub data: &'a [u8],
        pub original: u32,
    }

    impl Frame<'_> {
        pub fn new(seconds: u32, fraction: u32, data: &[u8]) -> Frame<'_> {
            Frame {
                seconds,
                fraction,
                data,
                original: data.len() as u32,
            }
        }
    }

    fn u16e(v: u16, be: bool) -> [u8; 2] {
        if be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32e(v: u32, be: bool) -> [u8; 4] {
        if be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A legacy pcap file.
    pub fn pcap(big_endian: bool, nanoseconds: bool, link: u32, frames: &[Frame<'_>]) -> Vec<u8> {
        let magic = if nanoseconds {
            0xa1b2_3c4d
        } else {
            0xa1b2_c3d4
        };
        let mut f = u32e(magic, big_endian).to_vec();
        f.extend(u16e(2, big_endian));
        f.extend(u16e(4, big_endian));
        f.extend([0; 8]);
        f.extend(u32e(65535, big_endian));
        f.extend(u32e(link, big_endian));
        for frame in frames {
            f.extend(u32e(frame.seconds, big_endian));
            f.extend(u32e(frame.fraction, big_endian));
            f.extend(u32e(frame.data.len() as u32, big_endian));
            f.extend(u32e(frame.original, big_endian));
            f.extend(frame.data);
        }
        f
    }

    /// pcapng blocks of one section, in one byte order.
    pub struct Section {
        big_endian: bool,
        bytes: Vec<u8>,
    }

    impl Section {
        pub fn new(big_endian: bool) -> Section {
            let mut s = Section {
                big_endian,
                bytes: Vec::new(),
            };
            let mut body = u32e(0x1a2b_3c4d, big_endian).to_vec();
            body.extend(u16e(1, big_endian));
            body.extend(u16e(0, big_endian));
            body.extend([0xff; 8]);
            s.block(0x0a0d_0d0a, &body);
            s
        }

        fn block(&mut self, block_type: u32, body: &[u8]) {
            let padded = body.len().div_ceil(4) * 4;
            let length = (12 + padded) as u32;
            self.bytes.extend(u32e(block_type, self.big_endian));
            self.bytes.extend(u32e(length, self.big_endian));
            self.bytes.extend(body);
            self.bytes
                .extend(std::iter::repeat_n(0, padded - body.len()));
            self.bytes.extend(u32e(length, self.big_endian));
        }

        /// An interface with a link type and an `if_tsresol` (6 = µs when `None`).
        pub fn interface(mut self, link: u16, tsresol: Option<u8>) -> Section {
            let be = self.big_endian;
            let mut body = u16e(link, be).to_vec();
            body.extend([0, 0]);
            body.extend(u32e(0, be));
            if let Some(r) = tsresol {
                body.extend(u16e(9, be));
                body.extend(u16e(1, be));
                body.extend([r, 0, 0, 0]);
                body.extend([0, 0, 0, 0]);
            }
            self.block(1, &body);
            self
        }

        /// An enhanced packet block.
        pub fn packet(mut self, interface: u32, ticks: u64, data: &[u8]) -> Section {
            let be = self.big_endian;
            let mut body = u32e(interface, be).to_vec();
            body.extend(u32e((ticks >> 32) as u32, be));
            body.extend(u32e(ticks as u32, be));
            body.extend(u32e(data.len() as u32, be));
            body.extend(u32e(data.len() as u32, be));
            body.extend(data);
            self.block(6, &body);
            self
        }

        /// A simple packet block (interface 0, no time stamp).
        pub fn simple_packet(mut self, data: &[u8]) -> Section {
            let mut body = u32e(data.len() as u32, self.big_endian).to_vec();
            body.extend(data);
            self.block(3, &body);
            self
        }

        /// A name resolution block, which the reader passes over.
        pub fn other_block(mut self) -> Section {
            self.block(4, &[0, 0, 0, 0]);
            self
        }

        pub fn bytes(self) -> Vec<u8> {
            self.bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::replay::input::{read_stream, InputFormat, RecordKind};
    use std::io::Cursor;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn v6(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = last;
        a
    }

    /// Each record as one line: what it decoded to, or where and why it was skipped.
    fn read(bytes: Vec<u8>, format: InputFormat) -> Vec<String> {
        let name: Arc<Path> = Arc::from(Path::new("t"));
        read_stream(name, Box::new(Cursor::new(bytes)), format)
            .map(|item| match item {
                Ok(r) => {
                    let RecordKind::Packet(p) = r.kind else {
                        return format!("not a packet: {r:?}");
                    };
                    let Position::Packet { number, .. } = r.source.position else {
                        return format!("bad position: {:?}", r.source.position);
                    };
                    let mut line = format!("{number} {} len={}", r.flow, p.length);
                    if let Some(flags) = p.tcp_flags {
                        line += &format!(" flags={flags:#04x}");
                    }
                    if p.fragment {
                        line += " fragment";
                    }
                    if let Some(t) = r.time {
                        line += &format!(" t={t}");
                    }
                    line
                }
                Err(s) => format!("skip {}: {}", s.source.position, s.reason),
            })
            .collect()
    }

    fn ethernet_frames() -> Vec<Vec<u8>> {
        vec![
            eth(0x0800, &ipv4(6, A, B, &tcp(1234, 80, 0x02), (0, false))),
            eth_vlan(
                &[(0x8100, 100)],
                0x0800,
                &ipv4(17, A, B, &udp(5353, 53), (0, false)),
            ),
            eth_vlan(
                &[(0x88a8, 10), (0x8100, 20)],
                0x86dd,
                &ipv6(6, v6(1), v6(2), &tcp(40000, 443, 0x12)),
            ),
            eth(0x0806, &arp()),
            eth(0x0800, &ipv4(1, A, B, &icmp_echo(8), (0, false))),
            eth(
                0x0800,
                &ipv4(50, A, B, &[0, 0, 1, 0, 0, 0, 0, 1], (0, false)),
            ),
            eth(0x0800, &ipv4(17, A, B, &udp(5000, 4789), (0, true))),
            eth(0x0800, &ipv4(17, A, B, &[9; 16], (185, false))),
            eth(0x0800, &ipv4(1, A, B, &[9; 16], (185, true))),
            eth(0x88cc, &[0; 20]),
            eth(0x0800, &ipv4(6, A, B, &[0, 80], (0, false))),
            eth(0x0800, &ipv4(6, A, B, &tcp(1, 2, 0x10)[..13], (0, false))),
            eth(
                0x0800,
                &ipv4(51, A, B, &[6, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1], (0, false)),
            ),
            eth(0x0800, &[0x45, 0, 0]),
            vec![1, 2, 3],
        ]
    }

    #[test]
    fn ethernet_pcap_little_endian_microseconds() {
        let frames = ethernet_frames();
        let frames: Vec<Frame> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| Frame::new(1_700_000_000 + i as u32, 123_456, f))
            .collect();
        let got = read(pcap(false, false, 1, &frames), InputFormat::Auto);
        let expected = [
            "1 tcp 10.0.0.1:1234 -> 10.0.0.2:80 len=54 flags=0x02 t=1700000000123",
            "2 udp 10.0.0.1:5353 -> 10.0.0.2:53 len=50 t=1700000001123",
            "3 tcp [2001:db8::1]:40000 -> [2001:db8::2]:443 len=82 flags=0x12 t=1700000002123",
            "skip packet 4 (byte 258): not IP: ARP",
            "5 icmp 10.0.0.1 -> 10.0.0.2 len=42 t=1700000004123",
            "6 esp 10.0.0.1 -> 10.0.0.2 len=42 t=1700000005123",
            "7 udp 10.0.0.1:5000 -> 10.0.0.2:4789 len=46 fragment t=1700000006123",
            "skip packet 8 (byte 494): IP fragment without transport header",
            "9 icmp 10.0.0.1 -> 10.0.0.2 len=50 fragment t=1700000008123",
            "skip packet 10 (byte 626): not IP: EtherType 0x88cc",
            "skip packet 11 (byte 676): truncated TCP header",
            "12 tcp 10.0.0.1:1 -> 10.0.0.2:2 len=47 t=1700000011123",
            "13 ah 10.0.0.1 -> 10.0.0.2 len=46 t=1700000012123",
            "skip packet 14 (byte 853): truncated IPv4 header",
            "skip packet 15 (byte 886): truncated Ethernet header",
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn big_endian_nanosecond_raw_ip_with_ipv6_extension_headers() {
        let hop_by_hop = ipv6(0, v6(1), v6(2), &ipv6_ext(6, &tcp(1000, 22, 0x02)));
        let dest_then_udp = ipv6(0, v6(3), v6(4), &ipv6_ext(60, &ipv6_ext(17, &udp(9, 10))));
        let first_fragment = ipv6(44, v6(1), v6(2), &ipv6_frag(17, 0, true, &udp(7, 8)));
        let later_fragment = ipv6(44, v6(1), v6(2), &ipv6_frag(6, 100, false, &[0; 16]));
        let icmpv6 = ipv6(58, v6(1), v6(2), &icmp_echo(128));
        let truncated_ext = ipv6(0, v6(1), v6(2), &[6, 3]);
        let udp4 = ipv4(17, A, B, &udp(68, 67), (0, false));
        let frames = [
            Frame::new(1, 999_999_999, &hop_by_hop),
            Frame::new(2, 1_000_000, &dest_then_udp),
            Frame::new(3, 0, &first_fragment),
            Frame::new(4, 0, &later_fragment),
            Frame::new(5, 0, &icmpv6),
            Frame::new(6, 0, &truncated_ext),
            Frame::new(7, 0, &udp4),
            Frame::new(8, 0, &[0x50, 0, 0, 0]),
        ];
        for link in [101, 229] {
            let got = read(pcap(true, true, link, &frames), InputFormat::Pcap);
            let expected = [
                "1 tcp [2001:db8::1]:1000 -> [2001:db8::2]:22 len=68 flags=0x02 t=1999",
                "2 udp [2001:db8::3]:9 -> [2001:db8::4]:10 len=68 t=2001",
                "3 udp [2001:db8::1]:7 -> [2001:db8::2]:8 len=60 fragment t=3000",
                "skip packet 4 (byte 268): IP fragment without transport header",
                "5 icmpv6 2001:db8::1 -> 2001:db8::2 len=48 t=5000",
                "skip packet 6 (byte 412): truncated IPv6 extension header",
                "7 udp 10.0.0.1:68 -> 10.0.0.2:67 len=32 t=7000",
                "skip packet 8 (byte 518): not IP: IP version 5",
            ];
            assert_eq!(got, expected, "link type {link}");
        }
    }

    #[test]
    fn pcapng_sections_interfaces_and_byte_orders() {
        let tcp4 = ipv4(6, A, B, &tcp(1, 2, 0x01), (0, false));
        let udp4 = ipv4(17, B, A, &udp(3, 4), (0, false));
        let first = Section::new(false)
            .interface(1, None)
            .interface(276, Some(9))
            .packet(0, 1_700_000_000_250_000, &eth(0x0800, &tcp4))
            .other_block()
            .packet(1, 1_700_000_000_250_000_000, &sll2(0x0800, &udp4))
            .packet(1, 5, &sll2(0x0806, &arp()))
            .packet(7, 0, &tcp4)
            .simple_packet(&eth(0x0800, &udp4))
            .bytes();
        let second = Section::new(true)
            .interface(113, Some(3))
            .interface(228, None)
            .packet(0, 42_000, &sll(0x0800, &tcp4))
            .packet(1, 1_000_000, &udp4)
            .packet(0, 1, &sll(0x0004, &[0; 8]))
            .bytes();
        let mut file = first;
        file.extend(second);
        let got = read(file, InputFormat::Auto);
        let expected = [
            "1 tcp 10.0.0.1:1 -> 10.0.0.2:2 len=54 flags=0x01 t=1700000000250",
            "2 udp 10.0.0.2:3 -> 10.0.0.1:4 len=52 t=1700000000250",
            "skip packet 3 (byte 268): not IP: ARP",
            "skip packet 4 (byte 348): packet on an interface its section does not describe",
            "5 udp 10.0.0.2:3 -> 10.0.0.1:4",
            "6 tcp 10.0.0.1:1 -> 10.0.0.2:2 len=56 flags=0x01 t=42000",
            "7 udp 10.0.0.2:3 -> 10.0.0.1:4 len=32 t=1000",
            "skip packet 8 (byte 716): not IP: IEEE 802.3 frame without an EtherType",
        ];
        let got: Vec<String> = got
            .into_iter()
            .map(|l| {
                // Simple packet blocks carry no time; keep the line short.
                if l.starts_with("5 ") {
                    l.split(" len").next().unwrap_or_default().to_string()
                } else {
                    l
                }
            })
            .collect();
        assert_eq!(got, expected);
    }

    /// An `if_tsresol` with its high bit set is a negative power of two: 0x94 is 2^-20 s,
    /// 0x8a 2^-10 s; 2^-64 s does not fit, and its packets have no time.
    #[test]
    fn power_of_two_time_stamp_resolutions() {
        let udp4 = eth(0x0800, &ipv4(17, A, B, &udp(1, 2), (0, false)));
        let file = Section::new(false)
            .interface(1, Some(0x94))
            .interface(1, Some(0x8a))
            .interface(1, Some(0xc0))
            .packet(0, (1_700_000_000 << 20) + (1 << 19), &udp4)
            .packet(1, 1_000 << 10, &udp4)
            .packet(2, 1, &udp4)
            .bytes();
        let got = read(file, InputFormat::Auto);
        let expected = [
            "1 udp 10.0.0.1:1 -> 10.0.0.2:2 len=46 t=1700000000500",
            "2 udp 10.0.0.1:1 -> 10.0.0.2:2 len=46 t=1000000",
            "3 udp 10.0.0.1:1 -> 10.0.0.2:2 len=46",
        ];
        assert_eq!(got, expected);
        assert_eq!(units_per_second(6), Some(1_000_000));
        assert_eq!(units_per_second(19), Some(10_000_000_000_000_000_000));
        assert_eq!(units_per_second(20), None);
        assert_eq!(units_per_second(0x80 | 63), Some(1 << 63));
    }

    #[test]
    fn loopback_and_unsupported_link_types() {
        let udp4 = ipv4(17, A, B, &udp(1, 2), (0, false));
        let tcp6 = ipv6(6, v6(1), v6(2), &tcp(3, 4, 0x04));
        let mut af_inet = 2u32.to_le_bytes().to_vec();
        af_inet.extend(&udp4);
        let mut af_inet6 = 30u32.to_be_bytes().to_vec();
        af_inet6.extend(&tcp6);
        let mut af_other = 7u32.to_le_bytes().to_vec();
        af_other.extend(&udp4);
        let frames = [
            Frame::new(0, 0, &af_inet),
            Frame::new(0, 0, &af_inet6),
            Frame::new(0, 0, &af_other),
        ];
        let got = read(pcap(false, false, 0, &frames), InputFormat::Auto);
        assert_eq!(
            got,
            [
                "1 udp 10.0.0.1:1 -> 10.0.0.2:2 len=36 t=0",
                "2 tcp [2001:db8::1]:3 -> [2001:db8::2]:4 len=64 flags=0x04 t=0",
                "skip packet 3 (byte 156): not IP: loopback address family 7",
            ]
        );
        let got = read(pcap(false, false, 105, &frames[..1]), InputFormat::Auto);
        assert_eq!(got, ["skip packet 1 (byte 24): unsupported link type 105"]);
    }

    /// A LinkType field with the FCS flag and an FCS length of 2 words (4 bytes): the link
    /// type is its low 16 bits, and the FCS after the IP packet is not read.
    #[test]
    fn a_link_type_with_fcs_bits_is_its_low_16_bits() {
        let mut frame = eth(0x0800, &ipv4(17, A, B, &udp(1, 2), (0, false)));
        frame.extend([0xde, 0xad, 0xbe, 0xef]);
        let frames = [Frame::new(0, 0, &frame)];
        for big_endian in [false, true] {
            let file = pcap(big_endian, false, 0x2400_0001, &frames);
            let got = read(file, InputFormat::Auto);
            assert_eq!(got, ["1 udp 10.0.0.1:1 -> 10.0.0.2:2 len=50 t=0"]);
        }
    }

    /// An IP header that disagrees with its EtherType, and an IPv4 header length under the
    /// minimum, are named in a line, not in etherparse's paragraph.
    #[test]
    fn bad_ip_headers_are_named_shortly() {
        let v6 = ipv6(6, v6(1), v6(2), &tcp(3, 4, 0x02));
        let reason = |r: Result<DecodedPacket, SkipReason>| r.err().map(|e| e.to_string());
        assert_eq!(
            reason(ether_payload(0x0800, &v6)).as_deref(),
            Some("EtherType 0x0800 says IPv4, the header IP version 6")
        );
        let mut v4 = ipv4(6, A, B, &tcp(1, 2, 0x02), (0, false));
        v4[0] = 0x44;
        assert_eq!(
            reason(decode_ip(&v4)).as_deref(),
            Some("bad IPv4 header: header length 4 words, under the minimum of 5")
        );
    }

    /// A damaged pcapng block whose length is sound is stepped over, with what is wrong
    /// with it, and the packets after it are read.
    #[test]
    fn a_damaged_pcapng_block_is_stepped_over() {
        let frame = eth(0x0800, &ipv4(6, A, B, &tcp(1, 2, 0x02), (0, false)));
        // Enough packets after the damaged one that the file is more than the reader's
        // largest buffer: it cannot read to the end of the file before judging the block.
        let mut section = Section::new(false).interface(1, None).packet(0, 0, &frame);
        let more = MAX_BLOCK_BYTES / frame.len();
        for t in 1..=more as u64 {
            section = section.packet(0, t, &frame);
        }
        let ng = section.bytes();
        let word = |at: usize| u32::from_le_bytes([ng[at], ng[at + 1], ng[at + 2], ng[at + 3]]);
        // The section header, the interface, then the first packet's block.
        let first = (word(4) + word(word(4) as usize + 4)) as usize;
        let length = word(first + 4) as usize;
        let at = |name: &str| {
            format!(
                "skip byte {first}: corrupt pcapng block of {length} bytes ({name}): stepped over"
            )
        };
        let mut caplen = ng.clone();
        caplen[first + 20..first + 24].copy_from_slice(&9999u32.to_le_bytes());
        let mut trailer = ng.clone();
        trailer[first + length - 4..first + length].copy_from_slice(&4u32.to_le_bytes());
        for (file, why) in [
            (caplen, "its fields run past its length".to_string()),
            (
                trailer,
                format!("its trailing length 4 differs from its leading length {length}"),
            ),
        ] {
            let got = read(file, InputFormat::Auto);
            assert_eq!(got.len(), 1 + more, "{:?}", &got[..2]);
            assert_eq!(got[0], at(&why));
            assert!(
                got[1].starts_with("1 tcp 10.0.0.1:1 -> 10.0.0.2:2"),
                "{:?}",
                &got[..2]
            );
        }
        // An interface description is not stepped over: the packets after it would be read
        // with the wrong link type. The file ends there, as before.
        let mut interface = ng.clone();
        interface[first - 4..first].copy_from_slice(&4u32.to_le_bytes());
        let got = read(interface, InputFormat::Auto);
        assert_eq!(got.len(), 1, "{:?}", &got[..2.min(got.len())]);
        assert!(got[0].contains("corrupt capture"), "{}", got[0]);
    }

    #[test]
    fn truncated_captures_end_with_a_skip_at_the_offset() {
        let frame = eth(0x0800, &ipv4(6, A, B, &tcp(1, 2, 0x02), (0, false)));
        let frames = [Frame::new(0, 0, &frame), Frame::new(1, 0, &frame)];
        let mut file = pcap(false, false, 1, &frames);
        file.truncate(file.len() - 10);
        let got = read(file, InputFormat::Auto);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            "skip byte 94: capture truncated: the last block ends past the end of the file"
        );
        let ng = Section::new(false)
            .interface(1, None)
            .packet(0, 0, &frame)
            .packet(0, 0, &frame)
            .bytes();
        let got = read(ng[..ng.len() - 3].to_vec(), InputFormat::Auto);
        assert_eq!(
            got[1],
            "skip byte 136: capture truncated: the last block ends past the end of the file"
        );
        let got = read(pcap(false, false, 1, &[])[..10].to_vec(), InputFormat::Pcap);
        assert_eq!(
            got,
            ["skip whole file: capture truncated: its header is incomplete"]
        );
    }

    #[test]
    fn hostile_block_lengths_are_refused_without_allocating_them() {
        let frame = eth(0x0800, &ipv4(6, A, B, &tcp(1, 2, 0x02), (0, false)));
        let mut file = pcap(false, false, 1, &[Frame::new(0, 0, &frame)]);
        file.extend([
            0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        file.extend([0; 100]);
        let got = read(file, InputFormat::Auto);
        assert_eq!(
            got[1],
            "skip byte 94: corrupt capture: a block claims 4294967295 bytes, over the 16 MiB limit"
        );
        let mut ng = Section::new(true).interface(1, None).bytes();
        ng.extend([0, 0, 0, 6, 0xff, 0xff, 0xff, 0xf0]);
        ng.extend([0; 64]);
        let got = read(ng, InputFormat::Auto);
        assert_eq!(
            got,
            ["skip byte 48: corrupt capture: a block claims 4294967280 bytes, over the 16 MiB limit"]
        );
        // A block of a few MiB is legal: the buffer grows for it.
        let big = vec![0u8; 3 << 20];
        let got = read(
            pcap(
                false,
                false,
                1,
                &[Frame::new(0, 0, &big), Frame::new(0, 0, &frame)],
            ),
            InputFormat::Auto,
        );
        assert_eq!(got.len(), 2);
        assert!(got[1].starts_with("2 tcp"), "{got:?}");
    }

    #[test]
    fn corrupt_blocks_and_garbage_end_the_file_with_a_reason() {
        let mut ng = Section::new(false).interface(1, None).bytes();
        ng.extend([6, 0, 0, 0, 8, 0, 0, 0]); // block shorter than its header
        ng.extend([0; 32]);
        let got = read(ng, InputFormat::Auto);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with(
                "skip byte 48: corrupt capture: a block claims 8 bytes, under the 12-byte minimum"
            ),
            "{got:?}"
        );
        let got = read(b"not a capture".to_vec(), InputFormat::Pcapng);
        assert_eq!(
            got,
            ["skip whole file: not a pcapng capture (no pcapng magic number at the start)"]
        );
    }

    /// A small deterministic generator for the corruption test.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn corrupt_inputs_never_panic_or_hang() {
        let frames = ethernet_frames();
        let frames: Vec<Frame> = frames.iter().map(|f| Frame::new(0, 0, f)).collect();
        let legacy = pcap(false, false, 1, &frames);
        let ng = Section::new(false)
            .interface(1, None)
            .packet(0, 0, frames[0].data)
            .packet(0, 0, frames[2].data)
            .simple_packet(frames[1].data)
            .bytes();
        for (file, format) in [(legacy, InputFormat::Pcap), (ng, InputFormat::Pcapng)] {
            for cut in 0..file.len() {
                let got = read(file[..cut].to_vec(), format);
                assert!(got.len() <= frames.len() + 1);
            }
            let mut seed = 0x2545_f491_4f6c_dd1d;
            for _ in 0..300 {
                let mut bytes = file.clone();
                for _ in 0..(xorshift(&mut seed) % 8 + 1) {
                    let at = (xorshift(&mut seed) as usize) % bytes.len();
                    bytes[at] = xorshift(&mut seed) as u8;
                }
                // Every record takes at least 16 bytes of the file.
                let got = read(bytes, format);
                assert!(got.len() <= file.len() / 16 + 2, "{got:?}");
            }
        }
    }

    /// The committed capture fixtures, as the writer makes them.
    pub(crate) fn fixture_files() -> Vec<(&'static str, Vec<u8>)> {
        let frames = ethernet_frames();
        let frames: Vec<Frame> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| Frame::new(1_700_000_000 + i as u32, 123_456, f))
            .collect();
        let mixed = pcap(false, false, 1, &frames);
        let mut truncated = pcap(true, true, 1, &frames[..3]);
        truncated.truncate(truncated.len() - 7);
        let mut hostile = Section::new(false)
            .interface(1, None)
            .packet(0, 0, frames[0].data)
            .bytes();
        hostile.extend([6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff]);
        hostile.extend([0; 24]);
        let tcp4 = ipv4(6, A, B, &tcp(1, 2, 0x02), (0, false));
        let mut sections = Section::new(false)
            .interface(113, Some(9))
            .packet(0, 1_700_000_000_000_000_000, &sll(0x0800, &tcp4))
            .bytes();
        sections.extend(
            Section::new(true)
                .interface(101, None)
                .packet(0, 0, &tcp4)
                .bytes(),
        );
        vec![
            ("mixed.pcap", mixed),
            ("sections.pcapng", sections),
            ("truncated.pcap", truncated),
            ("hostile-block-length.pcapng", hostile),
        ]
    }

    #[test]
    fn fixtures_are_what_the_writer_writes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/replay");
        for (name, bytes) in fixture_files() {
            let path = dir.join(name);
            if std::env::var_os("SECPATH_BLESS").is_some() {
                std::fs::write(&path, &bytes)
                    .map_err(|e| e.to_string())
                    .unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_default();
            assert!(
                committed == bytes,
                "{name} differs from the writer's (SECPATH_BLESS=1 rewrites it)"
            );
        }
    }

    #[test]
    fn the_ipv4_fast_path_agrees_with_the_full_decoder() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut fast = 0;
        for i in 0..20_000 {
            let mut packet = ipv4(
                if i % 2 == 0 { 6 } else { 17 },
                A,
                B,
                &tcp(1, 2, 0x12),
                (0, false),
            );
            for _ in 0..(xorshift(&mut seed) % 4) {
                let at = (xorshift(&mut seed) as usize) % packet.len();
                packet[at] = xorshift(&mut seed) as u8;
            }
            packet.truncate((xorshift(&mut seed) as usize) % (packet.len() + 8));
            if let Some(quick) = ipv4_fast_path(&packet) {
                fast += 1;
                assert_eq!(Ok(quick), ipv4_full(&packet), "{packet:?}");
            }
        }
        assert!(fast > 1000, "the fast path was taken {fast} times");
    }

    #[test]
    fn decoding_is_done_in_place() {
        // A frame longer than its IP packet (Ethernet padding) decodes from the IP length.
        let mut frame = eth(0x0800, &ipv4(17, A, B, &udp(1, 2), (0, false)));
        frame.extend([0xee; 10]);
        let decoded = decode_packet(1, &frame).map_err(|e| e.to_string());
        assert_eq!(
            decoded.map(|d| d.flow.to_string()),
            Ok("udp 10.0.0.1:1 -> 10.0.0.2:2".to_string())
        );
        assert_eq!(pcapng_millis(1_500, 1_000, -1), Some(500));
        assert_eq!(pcapng_millis(1, 0, 0), None);
    }
}
