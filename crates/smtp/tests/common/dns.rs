//! A tiny authoritative DNS server on 127.0.0.1 (UDP) that answers from a table the test
//! fills in: the only resolver servers under test ever talk to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

#[derive(Default)]
pub struct Zone {
    txt: HashMap<String, Vec<String>>,
    a: HashMap<String, Vec<std::net::Ipv4Addr>>,
    mx: HashMap<String, Vec<(u16, String)>>,
    srv: HashMap<String, Vec<(u16, u16, u16, String)>>,
    cname: HashMap<String, String>,
}

#[derive(Clone)]
pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_lowercase()
}

impl TestDns {
    pub async fn start() -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Arc<Mutex<Zone>> = Arc::default();
        let served = zone.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let response = answer(&served, &request);
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        TestDns { addr, zone }
    }

    #[allow(dead_code)] // not every test binary that includes this file publishes TXT records
    pub fn txt(&self, name: &str, value: &str) {
        self.zone
            .lock()
            .unwrap()
            .txt
            .entry(key(name))
            .or_default()
            .push(value.to_string());
    }

    #[allow(dead_code)] // not every test binary that includes this file publishes A records
    pub fn a(&self, name: &str, ip: std::net::Ipv4Addr) {
        self.zone
            .lock()
            .unwrap()
            .a
            .entry(key(name))
            .or_default()
            .push(ip);
    }

    pub fn mx(&self, name: &str, preference: u16, exchange: &str) {
        self.zone
            .lock()
            .unwrap()
            .mx
            .entry(key(name))
            .or_default()
            .push((preference, exchange.to_string()));
    }
}

#[allow(dead_code)] // SRV and CNAME: only `govmail doctor`'s tests publish them
impl TestDns {
    /// An SRV record (RFC 2782): priority, weight, port, target ("." = no service).
    pub fn srv(&self, name: &str, priority: u16, weight: u16, port: u16, target: &str) {
        self.zone
            .lock()
            .unwrap()
            .srv
            .entry(key(name))
            .or_default()
            .push((priority, weight, port, target.to_string()));
    }

    pub fn cname(&self, name: &str, target: &str) {
        self.zone
            .lock()
            .unwrap()
            .cname
            .insert(key(name), target.to_string());
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).unwrap()
}

fn answer(zone: &Mutex<Zone>, request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.message_type = MessageType::Response;
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let zone = zone.lock().unwrap();
    let mut found_name = false;
    for query in &request.queries {
        response.add_query(query.clone());
        let name = query.name().clone();
        let k = key(&name.to_ascii());
        let exists = zone.txt.contains_key(&k)
            || zone.a.contains_key(&k)
            || zone.mx.contains_key(&k)
            || zone.srv.contains_key(&k)
            || zone.cname.contains_key(&k);
        found_name |= exists;
        match query.query_type() {
            RecordType::TXT => {
                for value in zone.txt.get(&k).into_iter().flatten() {
                    // Long values are split into 255-byte character-strings.
                    let chunks = value
                        .as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    response.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::TXT(TXT::new(chunks)),
                    ));
                }
            }
            RecordType::A => {
                for ip in zone.a.get(&k).into_iter().flatten() {
                    response.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(*ip))));
                }
            }
            RecordType::MX => {
                for (preference, exchange) in zone.mx.get(&k).into_iter().flatten() {
                    let exchange = Name::from_ascii(format!("{exchange}.")).unwrap();
                    response.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::MX(MX::new(*preference, exchange)),
                    ));
                }
            }
            RecordType::SRV => {
                for (priority, weight, port, target) in zone.srv.get(&k).into_iter().flatten() {
                    response.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::SRV(SRV::new(*priority, *weight, *port, fqdn(target))),
                    ));
                }
            }
            RecordType::CNAME => {
                if let Some(target) = zone.cname.get(&k) {
                    response.add_answer(Record::from_rdata(
                        name.clone(),
                        60,
                        RData::CNAME(CNAME(fqdn(target))),
                    ));
                }
            }
            _ => {}
        }
    }
    if !found_name {
        response.metadata.response_code = ResponseCode::NXDomain;
    }
    response
}
