//! Dialogs (RFC 3261 §12): what identifies one, its route set, CSeq numbers and remote
//! target, and the requests we send within it.
//!
//! A dialog is created by the INVITE that starts a call (§12.1.1, UAS side) and is kept
//! by the call in [`crate::Endpoint`]; this module builds the in-dialog requests
//! (§12.2.1.1) and checks the ones that arrive (§12.2.2).

use std::net::{IpAddr, SocketAddr};

use crate::endpoint::{RequestRouting, Transport};
use crate::header::{BRANCH_MAGIC_COOKIE, NameAddr};
use crate::message::{Headers, Method, Request};
use crate::uri::{Uri, ip_host};

/// What identifies a dialog (§12): Call-ID, our tag, the remote tag.
pub(crate) type DialogKey = (String, String, String);

/// The dialog state of one call, from our side as the UAS.
#[derive(Debug)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: String,
    /// The To of the INVITE with our tag: the From of our requests.
    pub(crate) local_party: String,
    /// The From of the INVITE: the To of our requests.
    pub(crate) remote_party: String,
    /// Where requests go: the remote Contact, updated by target refreshes.
    pub(crate) remote_target: Uri,
    /// The Record-Route of the INVITE, in order (§12.1.1).
    pub(crate) route_set: Vec<NameAddr>,
    pub(crate) local_cseq: u32,
    pub(crate) remote_cseq: u32,
    /// The address the INVITE came from (for streams, the connection's peer).
    pub(crate) source: SocketAddr,
    /// The local address the INVITE arrived on.
    pub(crate) local: SocketAddr,
    pub(crate) transport: Transport,
}

/// A request built within a dialog, and where it goes.
#[derive(Debug)]
pub(crate) struct DialogRequest {
    pub(crate) request: Request,
    pub(crate) branch: String,
    pub(crate) destination: SocketAddr,
}

impl Dialog {
    pub(crate) fn key(&self) -> DialogKey {
        (
            self.call_id.clone(),
            self.local_tag.clone(),
            self.remote_tag.clone(),
        )
    }

    /// Takes the CSeq of a request from the peer (§12.2.2): `false` when it is lower
    /// than the last one, which must be refused with 500.
    pub(crate) fn accept_remote_cseq(&mut self, seq: u32) -> bool {
        if seq < self.remote_cseq {
            return false;
        }
        self.remote_cseq = seq;
        true
    }

    /// A target refresh (a re-INVITE's Contact) moves the remote target.
    pub(crate) fn refresh_target(&mut self, contact: Option<NameAddr>) {
        if let Some(contact) = contact {
            self.remote_target = contact.uri;
        }
    }

    /// Our Contact for this dialog.
    pub(crate) fn contact(&self, public: Option<IpAddr>) -> String {
        let host = ip_host(public.unwrap_or(self.local.ip()));
        let port = self.local.port();
        match self.transport {
            Transport::Udp => format!("<sip:{host}:{port}>"),
            Transport::Tcp => format!("<sip:{host}:{port};transport=tcp>"),
            // RFC 5630 would have `sips:` with `transport=tcp`; phones and trunks
            // (baresip among them) route only `transport=tls`, as Asterisk and
            // FreeSWITCH send it.
            Transport::Tls => format!("<sip:{host}:{port};transport=tls>"),
        }
    }

    /// Builds a request within the dialog (§12.2.1.1) with the next local CSeq: the
    /// Request-URI and Route headers from the route set (strict or loose routing), a Via
    /// with a new `branch_token`, and where it goes under `routing` (over streams always
    /// the connection the call came in on).
    pub(crate) fn request(
        &mut self,
        method: Method,
        branch_token: &str,
        public: Option<IpAddr>,
        routing: RequestRouting,
        user_agent: &str,
    ) -> DialogRequest {
        let branch = format!("{BRANCH_MAGIC_COOKIE}{branch_token}");
        self.local_cseq = self.local_cseq.saturating_add(1);
        let strict = self
            .route_set
            .first()
            .is_some_and(|r| !r.uri.is_loose_route());
        let (uri, routes): (Uri, Vec<String>) = if strict {
            // Strict routing (§12.2.1.1): the first route becomes the Request-URI and the
            // remote target is appended as the last Route.
            let mut routes: Vec<String> = self
                .route_set
                .iter()
                .skip(1)
                .map(ToString::to_string)
                .collect();
            routes.push(format!("<{}>", self.remote_target));
            let first = self
                .route_set
                .first()
                .map_or_else(|| self.remote_target.clone(), |r| r.uri.clone());
            (first, routes)
        } else {
            (
                self.remote_target.clone(),
                self.route_set.iter().map(ToString::to_string).collect(),
            )
        };
        let host = ip_host(public.unwrap_or(self.local.ip()));
        let mut headers = Headers::new();
        headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {host}:{};branch={branch};rport",
                self.transport.via_token(),
                self.local.port()
            ),
        );
        headers.push("Max-Forwards", "70");
        headers.push("From", self.local_party.clone());
        headers.push("To", self.remote_party.clone());
        headers.push("Call-ID", self.call_id.clone());
        headers.push("CSeq", format!("{} {method}", self.local_cseq));
        for route in routes {
            headers.push("Route", route);
        }
        headers.push("User-Agent", user_agent);
        DialogRequest {
            request: Request {
                method,
                uri,
                headers,
                body: Vec::new(),
            },
            branch,
            destination: self.next_hop(routing),
        }
    }

    /// Where requests within the dialog go.
    fn next_hop(&self, routing: RequestRouting) -> SocketAddr {
        match (self.transport.is_reliable(), routing) {
            (true, _) | (false, RequestRouting::Source) => self.source,
            (false, RequestRouting::RemoteTarget) => {
                let next_hop = self
                    .route_set
                    .first()
                    .map_or(&self.remote_target, |r| &r.uri);
                match next_hop.ip() {
                    Some(ip) => SocketAddr::new(ip, next_hop.port.unwrap_or(5060)),
                    None => self.source,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(routes: &[&str]) -> Dialog {
        Dialog {
            call_id: "c1".into(),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
            local_party: "<sip:bridge@192.0.2.1>;tag=ours".into(),
            remote_party: "<sip:caller@192.0.2.9>;tag=theirs".into(),
            remote_target: Uri::parse("sip:caller@192.0.2.9:5070").unwrap(),
            route_set: routes.iter().map(|r| NameAddr::parse(r).unwrap()).collect(),
            local_cseq: 7,
            remote_cseq: 1,
            source: "192.0.2.9:5062".parse().unwrap(),
            local: "192.0.2.1:5060".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    #[test]
    fn loose_routes_keep_the_target_and_go_to_the_first_route() {
        let mut d = dialog(&["<sip:proxy@192.0.2.5:5080;lr>"]);
        let built = d.request(
            Method::Bye,
            "x",
            None,
            RequestRouting::RemoteTarget,
            "pinbridge",
        );
        assert_eq!(built.request.uri.to_string(), "sip:caller@192.0.2.9:5070");
        assert_eq!(
            built.request.headers.first("Route"),
            Some("<sip:proxy@192.0.2.5:5080;lr>")
        );
        assert_eq!(built.request.headers.first("CSeq"), Some("8 BYE"));
        assert_eq!(built.destination, "192.0.2.5:5080".parse().unwrap());
        assert_eq!(built.branch, format!("{BRANCH_MAGIC_COOKIE}x"));
    }

    #[test]
    fn a_strict_route_becomes_the_request_uri() {
        let mut d = dialog(&["<sip:proxy@192.0.2.5>"]);
        let built = d.request(Method::Bye, "x", None, RequestRouting::Source, "pinbridge");
        assert_eq!(built.request.uri.to_string(), "sip:proxy@192.0.2.5");
        assert_eq!(
            built.request.headers.first("Route"),
            Some("<sip:caller@192.0.2.9:5070>")
        );
        assert_eq!(built.destination, "192.0.2.9:5062".parse().unwrap());
    }

    #[test]
    fn remote_cseq_never_goes_back() {
        let mut d = dialog(&[]);
        assert!(d.accept_remote_cseq(1));
        assert!(d.accept_remote_cseq(5));
        assert!(!d.accept_remote_cseq(4));
        assert_eq!(d.remote_cseq, 5);
    }
}
