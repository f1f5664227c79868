//! The media side of one call: what arrives on its ports, what it hears, what it sends.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use pinbridge_domain::ConferenceId;
use pinbridge_domain::meeting::ParticipantId;
use pinbridge_ivr::{Call as Flow, PromptId};
use pinbridge_media::jitter::PushOutcome;
use pinbridge_media::mixer::limit;
use pinbridge_media::rtcp;
use pinbridge_media::rtp::SequenceCheck;
use pinbridge_media::srtp::{CallSrtp, SrtpError};
use pinbridge_media::{
    Codec, FRAME_SAMPLES, Frame, InbandDetector, JitterBuffer, MixOutput, Mixer, MusicOnHold,
    PlayerState, PromptPlayer, ReceiverStats, RtpPacket, RtpSender, SILENT_FRAME,
    TelephoneEventReceiver, ToneGenerator,
};

use crate::latch::{Latch, Verdict};
use crate::{CallId, Counters, MeetingRecord, RemoteMedia};

/// The limiter knee used when a prompt is laid over the mix.
const OVERLAY_KNEE: i16 = 24_576;

/// The CNAME in our RTCP source descriptions.
const CNAME: &[u8] = b"pinbridge";

/// A call's place in a room.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub conference_id: ConferenceId,
    pub participant: ParticipantId,
    /// Its mixer input and output, once it is in the meeting (not the lobby).
    pub mixer: Option<pinbridge_media::ParticipantId>,
}

/// One call.
pub(crate) struct CallState {
    pub handle: CallId,
    pub port: u16,
    pub media: RemoteMedia,
    /// The ring delay: when the call is to be answered, until it is.
    pub answer_at: Option<Instant>,
    pub latch: Latch,
    pub rtcp_latch: Latch,
    /// The prompts' language (an index of [`crate::Assets::language_index`]).
    pub language: usize,
    /// The alternate languages the greeting offers, in key order (the same indices).
    pub alternates: Vec<usize>,
    pub calling_number: Option<String>,
    pub origin: crate::Origin,
    pub flow: Flow,
    /// The caller's ACK arrived (the caller flow has begun).
    pub confirmed: bool,
    pub jitter: JitterBuffer,
    pub events: TelephoneEventReceiver,
    pub inband: InbandDetector,
    pub stats: ReceiverStats,
    pub sender: RtpSender,
    pub prompt: PromptPlayer,
    /// The prompt whose end the caller flow waits for.
    pub prompt_id: Option<PromptId>,
    pub tone: ToneGenerator,
    pub music: bool,
    pub last_rtp: Instant,
    pub next_rtcp: Instant,
    pub input: Frame,
    pub has_input: bool,
    /// The meeting this call reached, once looked up.
    pub record: Option<Box<MeetingRecord>>,
    /// The call's place in its room.
    pub member: Option<Member>,
    pub reported_lost: i64,
    /// The tick this call's last packet was built in.
    pub sent_at_tick: u64,
    /// The call's SRTP, when its media is encrypted.
    pub srtp: Option<Box<CallSrtp>>,
}

/// One datagram to send, kept in the bridge's byte arena until the driver takes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub call: crate::CallKey,
    pub channel: crate::Channel,
    pub destination: SocketAddr,
    pub start: usize,
    pub end: usize,
}

impl CallState {
    /// Whether anything uses the caller's audio: the room's mixer once they are in the
    /// meeting, or in-band key detection when no telephone-event was negotiated. A caller
    /// in the lobby or the caller flow with RFC 4733 keys is heard by nobody, so their
    /// audio is not buffered (their packets still count for RTCP and the RTP timeout).
    pub fn listens(&self) -> bool {
        self.media.telephone_event.is_none()
            || self.member.as_ref().is_some_and(|m| m.mixer.is_some())
    }

    /// Where this call's RTP goes: the latched source (symmetric RTP), else the address
    /// the SDP gave.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        self.latch.source().or(self.media.address)
    }

    /// Takes one RTP datagram; returns the key it carried, if it began one.
    ///
    /// Sequence numbers are judged as RFC 3550 appendix A.1 asks, for audio in the
    /// call's statistics and for telephone-events in their receiver: a new source is
    /// believed after two packets in sequence, and a large jump only when the packet
    /// after it follows on, which restarts the sequence (and the jitter buffer, as the
    /// timestamps may have jumped with it). Packets not believed yet are not played.
    /// Telephone-events count in the call's statistics when they share the audio's SSRC
    /// (RFC 4733); a player of captured events (SIPp's `play_pcap_audio`) sends them on
    /// an SSRC of their own beside the audio, and they are left out of its statistics.
    pub fn receive_rtp(
        &mut self,
        source: SocketAddr,
        bytes: &[u8],
        now: Instant,
        counters: &mut Counters,
    ) -> Option<char> {
        if self.answer_at.is_some() {
            // Not answered yet: nothing is latched before the answer.
            return None;
        }
        // An SRTP call takes only authentic packets: nothing forged or replayed reaches
        // the latch, the statistics or the jitter buffer.
        let bytes = authentic(
            self.srtp.as_deref_mut(),
            bytes,
            CallSrtp::unprotect_rtp,
            counters,
        )?;
        let packet = RtpPacket::parse(&bytes).ok()?;
        match self
            .latch
            .rtp(source, packet.ssrc, packet.sequence_number, now)
        {
            Verdict::Ignore => {
                counters.rtp_packets_foreign += 1;
                return None;
            }
            Verdict::Latched if self.stats.ssrc().is_some() => counters.rtp_source_moves += 1,
            Verdict::Latched | Verdict::Accept => {}
        }
        counters.rtp_packets_received += 1;
        self.last_rtp = now;
        if Some(packet.payload_type) == self.media.telephone_event {
            if self.stats.ssrc().is_none_or(|ssrc| ssrc == packet.ssrc) {
                self.record_in_stats(&packet, None, counters);
            }
            return match self.events.push(&packet, now) {
                Ok(Some(digit)) => Some(digit.as_char()),
                _ => None,
            };
        }
        let check = self.record_in_stats(&packet, Some(now), counters);
        if !check.is_usable() {
            return None;
        }
        if check == SequenceCheck::Restarted {
            self.jitter.restart();
        }
        if self.listens() && self.jitter.push(&packet, now) == PushOutcome::Late {
            counters.rtp_packets_late += 1;
        }
        None
    }

    /// Records a packet in the call's statistics: an audio packet with its arrival time,
    /// an event without. When the statistics start a new sequence (the source restarted
    /// or its SSRC changed), the old sequence's loss not reported yet goes to the
    /// counters and the new sequence's is reported from zero.
    fn record_in_stats(
        &mut self,
        packet: &RtpPacket<'_>,
        arrival: Option<Instant>,
        counters: &mut Counters,
    ) -> SequenceCheck {
        let lost_before = self.stats.cumulative_lost();
        let source_before = self.stats.ssrc();
        let check = match arrival {
            Some(now) => self.stats.record(packet, now),
            None => self.stats.record_event(packet),
        };
        if check == SequenceCheck::Restarted || source_before != self.stats.ssrc() {
            if lost_before > self.reported_lost {
                counters.rtp_packets_lost += (lost_before - self.reported_lost) as u64;
            }
            self.reported_lost = 0;
        }
        check
    }

    /// Takes one RTCP datagram: the caller's sender reports feed the round-trip fields
    /// of ours.
    pub fn receive_rtcp(
        &mut self,
        source: SocketAddr,
        bytes: &[u8],
        now: Instant,
        counters: &mut Counters,
    ) {
        if self.answer_at.is_some() {
            return;
        }
        let Some(bytes) = authentic(
            self.srtp.as_deref_mut(),
            bytes,
            CallSrtp::unprotect_rtcp,
            counters,
        ) else {
            return;
        };
        let Ok(packets) = rtcp::parse_compound(&bytes) else {
            return;
        };
        if self.rtcp_latch.rtcp(source, now) == Verdict::Ignore {
            counters.rtcp_packets_foreign += 1;
            return;
        }
        for packet in packets {
            if let rtcp::RtcpPacket::SenderReport(report) = packet {
                self.stats
                    .record_sender_report(report.ntp_time.middle_32(), now);
            }
        }
    }

    /// Adds what the call lost since the last time to the counters (at each RTCP report
    /// and at the call's end, so the counter follows a live load).
    pub fn report_loss(&mut self, counters: &mut Counters) {
        let lost = self.stats.cumulative_lost();
        if lost > self.reported_lost {
            counters.rtp_packets_lost += (lost - self.reported_lost) as u64;
            self.reported_lost = lost;
        }
    }

    /// Builds a sender report about our stream, with a reception report about the
    /// caller's, for where the caller's RTCP comes from (else the RTP address's port + 1).
    pub fn build_rtcp(
        &mut self,
        now: Instant,
        since_epoch: std::time::Duration,
        counters: &mut Counters,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        self.report_loss(counters);
        let destination = self.rtcp_latch.source().or_else(|| {
            self.rtp_destination()
                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
        })?;
        let report = rtcp::SenderReport {
            ssrc: self.sender.ssrc(),
            ntp_time: rtcp::NtpTime::from_unix(since_epoch),
            rtp_timestamp: self.sender.last_timestamp(),
            packet_count: self.sender.packets_sent(),
            octet_count: self.sender.octets_sent(),
            reports: self.stats.report(now).into_iter().collect(),
        };
        let mut builder = rtcp::CompoundBuilder::new();
        builder
            .sender_report(&report)
            .and_then(|b| b.source_description(&[(self.sender.ssrc(), CNAME)]))
            .ok()?;
        let bytes = builder.finish().ok()?;
        let bytes = match self.srtp.as_mut() {
            Some(srtp) => srtp.protect_rtcp(&bytes).ok()?,
            None => bytes,
        };
        Some((destination, bytes))
    }

    /// This tick's payload for the call, written into `packet` as an RTP packet; returns
    /// the packet's length (`None` when there is nothing to send) and the prompt that
    /// ended, if one did.
    pub fn build_frame(
        &mut self,
        mix: Option<(&Mixer, pinbridge_media::ParticipantId)>,
        music: &MusicOnHold,
        silence: &[[u8; FRAME_SAMPLES]; 2],
        packet: &mut [u8],
    ) -> (Option<usize>, Option<PromptId>) {
        let codec = self.media.codec;
        let mut prompt_pcm = SILENT_FRAME;
        let mut finished = None;
        let mut voiced = false;
        if self.prompt.is_playing() || self.prompt_id.is_some() {
            match self.prompt.next_frame(&mut prompt_pcm) {
                PlayerState::Playing => voiced = true,
                PlayerState::Done => finished = self.prompt_id.take(),
            }
        }
        if self.tone.is_playing() {
            let mut tone = SILENT_FRAME;
            if self.tone.next_frame(&mut tone) == PlayerState::Playing {
                for (p, t) in prompt_pcm.iter_mut().zip(tone.iter()) {
                    *p = p.saturating_add(*t);
                }
                voiced = true;
            }
        }
        let mut own = [0u8; FRAME_SAMPLES];
        let payload: &[u8] = match (mix, voiced) {
            (Some((mixer, id)), false) => match mixer.output(id) {
                Some(MixOutput::Shared { payload, .. }) | Some(MixOutput::Own { payload }) => {
                    payload
                }
                None => &silence[codec.index()],
            },
            (Some((mixer, id)), true) => {
                let heard = mixer.output_pcm(id).unwrap_or(&SILENT_FRAME);
                let mut pcm = SILENT_FRAME;
                for ((out, &m), &p) in pcm.iter_mut().zip(heard.iter()).zip(prompt_pcm.iter()) {
                    *out = limit(m as i32 + p as i32, OVERLAY_KNEE);
                }
                codec.encode(&pcm, &mut own);
                &own
            }
            (None, true) => {
                codec.encode(&prompt_pcm, &mut own);
                &own
            }
            (None, false) if self.music => music.payload(codec),
            (None, false) => &silence[codec.index()],
        };
        if self.rtp_destination().is_none() {
            return (None, finished);
        }
        let written = self
            .sender
            .write_packet(payload, FRAME_SAMPLES as u32, packet)
            .ok();
        let written = match (written, self.srtp.as_mut()) {
            (Some(len), Some(srtp)) => srtp.protect_rtp(&packet[..len]).ok().and_then(|sealed| {
                let out = packet.get_mut(..sealed.len())?;
                out.copy_from_slice(&sealed);
                Some(sealed.len())
            }),
            (written, None) => written,
            (None, Some(_)) => None,
        };
        (written, finished)
    }
}

/// A datagram as plain RTP or RTCP: on an SRTP call authenticated and decrypted by
/// `unprotect` (`None`, counted, when it is not authentic, replayed or malformed), as it
/// came otherwise.
fn authentic<'a>(
    srtp: Option<&mut CallSrtp>,
    bytes: &'a [u8],
    unprotect: fn(&mut CallSrtp, &[u8]) -> Result<Vec<u8>, SrtpError>,
    counters: &mut Counters,
) -> Option<Cow<'a, [u8]>> {
    match srtp {
        None => Some(Cow::Borrowed(bytes)),
        Some(srtp) => match unprotect(srtp, bytes) {
            Ok(plain) => Some(Cow::Owned(plain)),
            Err(_) => {
                counters.srtp_packets_refused += 1;
                None
            }
        },
    }
}

/// The silence payload of each codec, by [`Codec::index`].
pub(crate) fn silence_payloads() -> [[u8; FRAME_SAMPLES]; 2] {
    [
        [Codec::Pcmu.silence_code(); FRAME_SAMPLES],
        [Codec::Pcma.silence_code(); FRAME_SAMPLES],
    ]
}
