//! A browser's WebRTC stack against the peer, in virtual time: str0m as the browser
//! (full ICE, the DTLS client, an Opus offer as Chromium makes it), its datagrams handed
//! to the peer as the shared socket would and back. Audio flows both ways through
//! ICE, DTLS-SRTP and Opus: a 1 kHz tone from the browser comes out of the peer as
//! frames, and the peer's 600 Hz frames reach the browser; neither hears the other's
//! tone in its own. Bad offers are refused with a reason and nothing panics on
//! datagrams that are not the peer's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use opus_rs::{Application, OpusDecoder, OpusEncoder};
use pinbridge_media::analysis::tone_share;
use pinbridge_media::{ToneGenerator, ToneSegment};
use pinbridge_webrtc::{AudioCodec, OfferError, Peer, PeerConfig, PeerEvent, PeerOutput};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

const SERVER: &str = "127.0.0.1:40000";
const BROWSER: &str = "127.0.0.1:50000";

/// The browser: str0m with only Opus, as the offerer.
struct Browser {
    rtc: Rtc,
    mid: Mid,
    address: SocketAddr,
    encoder: OpusEncoder,
    decoder: OpusDecoder,
    sent: u64,
    heard: Vec<i16>,
    connected: bool,
}

fn browser(now: Instant, codecs: &[Codec]) -> (Browser, String, SdpPendingOffer) {
    let mut config = RtcConfig::new().clear_codecs();
    for codec in codecs {
        config = match codec {
            Codec::Opus => config.enable_opus(true, false),
            Codec::PCMU => config.enable_pcmu(true, false),
            _ => config,
        };
    }
    let mut rtc = config.build(now);
    let address: SocketAddr = BROWSER.parse().unwrap();
    rtc.add_local_candidate(Candidate::host(address, "udp").unwrap());
    let mut change = rtc.sdp_api();
    let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let browser = Browser {
        rtc,
        mid,
        address,
        encoder: OpusEncoder::new(48_000, 1, Application::Voip).unwrap(),
        decoder: OpusDecoder::new(8000, 1).unwrap(),
        sent: 0,
        heard: Vec::new(),
        connected: false,
    };
    (browser, offer.to_sdp_string(), pending)
}

fn tone(hz: f32, samples_per_second: u32, ms: u32) -> Vec<i16> {
    let samples = ToneGenerator::new(vec![ToneSegment::tone(hz, 8000.0, ms)]).render();
    // The generator renders at 8 kHz; the browser's 48 kHz tone repeats each sample
    // (a 1 kHz tone keeps its pitch, with images far above it).
    let factor = (samples_per_second / 8000) as usize;
    samples
        .iter()
        .flat_map(|&s| std::iter::repeat_n(s, factor))
        .collect()
}

/// Runs both sides for `length` of virtual time from `now`, the browser sending `from`
/// and the peer `to` in 20 ms frames once connected; returns the time reached and the
/// peer's decoded frames.
fn run(
    browser: &mut Browser,
    peer: &mut Peer,
    now: &mut Instant,
    length: Duration,
    from: &[i16],
    to: &[i16],
) -> Vec<i16> {
    let server: SocketAddr = SERVER.parse().unwrap();
    let end = *now + length;
    let mut next_frame = *now;
    let mut frame = 0usize;
    let mut heard = Vec::new();
    for _ in 0..200_000 {
        if *now >= end {
            break;
        }
        // The browser's outputs, delivered to the peer.
        let browser_deadline = loop {
            match browser.rtc.poll_output().expect("browser output") {
                Output::Transmit(t) => {
                    assert_eq!(t.destination, server);
                    assert!(
                        peer.accepts(*now, browser.address, server, &t.contents),
                        "the peer does not accept its browser's datagram"
                    );
                    let _ = peer.handle_datagram(*now, browser.address, server, &t.contents);
                }
                Output::Event(Event::Connected) => browser.connected = true,
                Output::Event(Event::MediaData(data)) => {
                    let mut pcm = vec![0.0f32; 960];
                    let n = browser.decoder.decode(&data.data, 960, &mut pcm).unwrap();
                    browser
                        .heard
                        .extend(pcm[..n].iter().map(|&s| (s * 32767.0) as i16));
                }
                Output::Event(_) => {}
                Output::Timeout(at) => break at,
            }
        };
        // The peer's outputs, delivered to the browser.
        let peer_deadline = loop {
            match peer.poll_output() {
                PeerOutput::Transmit {
                    destination,
                    contents,
                } => {
                    assert_eq!(destination, browser.address);
                    browser
                        .rtc
                        .handle_input(Input::Receive(
                            *now,
                            Receive {
                                proto: Protocol::Udp,
                                source: server,
                                destination,
                                contents: contents.as_slice().try_into().unwrap(),
                            },
                        ))
                        .expect("the browser takes the peer's datagram");
                }
                PeerOutput::Event(PeerEvent::Frame(samples)) => heard.extend(samples),
                PeerOutput::Event(_) => {}
                PeerOutput::Timeout(at) => break at,
            }
        };
        if *now >= next_frame {
            if browser.connected && peer.is_connected() {
                let at = frame * 960;
                let samples = &from[at % from.len()..][..960];
                let mut packet = vec![0u8; 1275];
                let n = browser
                    .encoder
                    .encode_i16(samples, 960, &mut packet)
                    .unwrap();
                packet.truncate(n);
                let writer = browser.rtc.writer(browser.mid).unwrap();
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == Codec::Opus)
                    .unwrap()
                    .pt();
                let time = MediaTime::new(browser.sent, Frequency::FORTY_EIGHT_KHZ);
                browser.sent += 960;
                writer.write(pt, *now, time, packet).unwrap();
                let at = frame * 160;
                peer.send_frame(*now, &to[at % to.len()..][..160]).unwrap();
                frame += 1;
            }
            next_frame += Duration::from_millis(20);
            continue;
        }
        let next = browser_deadline.min(peer_deadline).min(next_frame).min(end);
        *now = next.max(*now);
        browser.rtc.handle_input(Input::Timeout(*now)).unwrap();
        peer.handle_timeout(*now);
    }
    heard
}

#[test]
fn audio_flows_both_ways_over_ice_dtls_srtp_and_opus() {
    let mut now = Instant::now();
    let (mut browser, offer, pending) = browser(now, &[Codec::Opus]);
    let config = PeerConfig::new(SERVER.parse().unwrap());
    let (mut peer, answer) = Peer::answer(config, &offer, now).expect("the offer is answered");
    assert_eq!(peer.codec(), AudioCodec::Opus);
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=setup:passive"), "{answer}");
    assert!(
        answer.contains(SERVER.split(':').next().unwrap()),
        "{answer}"
    );
    browser
        .rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();

    // 1 kHz from the browser (48 kHz), 600 Hz from the room (8 kHz), for three seconds.
    let from = tone(1000.0, 48_000, 4000);
    let to = tone(600.0, 8000, 4000);
    let heard_by_peer = run(
        &mut browser,
        &mut peer,
        &mut now,
        Duration::from_secs(3),
        &from,
        &to,
    );
    assert!(peer.is_connected() && browser.connected);
    // The last second of each side, after the codecs settled.
    let last = |samples: &[i16]| samples[samples.len().saturating_sub(8000)..].to_vec();
    assert!(
        heard_by_peer.len() >= 16_000,
        "{} samples",
        heard_by_peer.len()
    );
    let at_peer = last(&heard_by_peer);
    assert!(
        tone_share(&at_peer, 1000.0) > 0.5,
        "{}",
        tone_share(&at_peer, 1000.0)
    );
    assert!(tone_share(&at_peer, 600.0) < 0.05);
    assert!(
        browser.heard.len() >= 16_000,
        "{} samples",
        browser.heard.len()
    );
    let at_browser = last(&browser.heard);
    assert!(
        tone_share(&at_browser, 600.0) > 0.5,
        "{}",
        tone_share(&at_browser, 600.0)
    );
    assert!(tone_share(&at_browser, 1000.0) < 0.05);
}

#[test]
fn an_offer_without_opus_is_answered_with_pcmu_at_8_khz() {
    let now = Instant::now();
    let (_, offer, _) = browser(now, &[Codec::PCMU]);
    let config = PeerConfig::new(SERVER.parse().unwrap());
    let (peer, answer) = Peer::answer(config, &offer, now).unwrap();
    assert_eq!(peer.codec(), AudioCodec::Pcmu);
    assert!(answer.contains("PCMU/8000"), "{answer}");
    // Wideband frames cannot be sent as PCMU: the offer is refused.
    let wideband = PeerConfig {
        sample_rate: 16_000,
        ..config
    };
    let refused = Peer::answer(wideband, &offer, now).err();
    assert!(
        matches!(refused, Some(OfferError::NoCommonCodec)),
        "{refused:?}"
    );
}

#[test]
fn bad_offers_are_refused_with_a_reason() {
    let now = Instant::now();
    let config = PeerConfig::new(SERVER.parse().unwrap());
    let refused = |offer: &str| Peer::answer(config, offer, now).err();
    assert!(matches!(
        refused("not sdp at all"),
        Some(OfferError::Malformed(_))
    ));
    assert!(matches!(refused(""), Some(OfferError::Malformed(_))));
    // A video-only offer has no audio to answer.
    let mut rtc = RtcConfig::new().build(now);
    rtc.add_local_candidate(Candidate::host(BROWSER.parse().unwrap(), "udp").unwrap());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let (video, _) = change.apply().unwrap();
    let refusal = refused(&video.to_sdp_string());
    assert!(
        matches!(
            refusal,
            Some(OfferError::NoAudio | OfferError::NoCommonCodec)
        ),
        "{refusal:?}"
    );
    // A truncated real offer, cut at every line.
    let (_, offer, _) = browser(now, &[Codec::Opus]);
    let lines: Vec<&str> = offer.split_inclusive("\r\n").collect();
    for cut in 0..lines.len() {
        let _ = Peer::answer(config, &lines[..cut].concat(), now);
    }
    let bad_rate = PeerConfig {
        sample_rate: 11_025,
        ..config
    };
    assert!(matches!(
        Peer::answer(bad_rate, &offer, now).err(),
        Some(OfferError::Config(_))
    ));
}

#[test]
fn datagrams_that_are_not_the_peers_are_not_accepted_and_change_nothing() {
    let now = Instant::now();
    let (_, offer, _) = browser(now, &[Codec::Opus]);
    let config = PeerConfig::new(SERVER.parse().unwrap());
    let (mut peer, _) = Peer::answer(config, &offer, now).unwrap();
    let server: SocketAddr = SERVER.parse().unwrap();
    let stranger: SocketAddr = "127.0.0.1:50999".parse().unwrap();
    // Random bytes of every length up to 1,500, from a fixed-seed generator.
    let mut state = 0x2545_f491_u32;
    for len in 0..1500 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        assert!(!peer.accepts(now, stranger, server, &bytes));
        let _ = peer.handle_datagram(now, stranger, server, &bytes);
    }
    assert!(!peer.is_connected());
    assert!(
        peer.send_frame(now, &[0; 7]).is_err(),
        "a frame of the wrong length"
    );
}
