//! Network namespaces for the fault suite's network partitions (needs root, as CI has).
//!
//! A [`Topology`] puts the source node, kmirror and the target nodes in three namespaces of
//! their own, joined by two veth pairs through kmirror's:
//!
//! ```text
//!   <name>-s: source node  ──veth──  <name>-k: kmirror  ──veth──  <name>-t: target nodes
//!   127.77.a.2                  127.77.a.1    127.77.b.1                  127.77.b.2
//! ```
//!
//! Only loopback-range addresses are used, on interfaces created directly inside the
//! namespaces; the root namespace's interfaces and sysctls are never touched. Inside each
//! namespace `route_localnet` is set (Linux does not route 127.0.0.0/8 between interfaces
//! otherwise) and `lo` keeps 127.0.0.1/32 only, so that the peer's 127.77.x.y is reached over
//! the veth rather than taken for a local address. The nodes listen on their namespace's veth
//! address, which stays local to that namespace while the link is down, so a cut separates
//! kmirror from a cluster and nothing else: [`Link::cut`] takes the far end of a veth down,
//! after which kmirror's packets are dropped silently (its connections hang until its own
//! timeouts) and new connections find no route; [`Link::restore`] brings it up again.
//!
//! Processes reach a namespace through [`command`] (`ip netns exec`); the Python client finds
//! the namespace of a bootstrap address by its host ([`namespace_of`]). Dropping a topology
//! deletes its namespaces, and with them their interfaces; namespaces left by a test process
//! that was killed are deleted by the next topology.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace this kit creates: `kmf-<pid>-<n>-<role>`.
const PREFIX: &str = "kmf-";

/// Where a cluster's nodes run: a namespace and the address they listen on there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub ns: String,
    pub host: String,
}

/// Hosts of the running topologies and their namespaces.
static HOSTS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The namespace whose node listens on the host of `bootstrap` (`host:port[,...]`), if any.
pub fn namespace_of(bootstrap: &str) -> Option<String> {
    let host = bootstrap.split(',').next()?.rsplit_once(':')?.0;
    HOSTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()?
        .get(host)
        .cloned()
}

/// `program` run inside `ns` (through `ip netns exec`, which execs it: the pid is the
/// program's), or directly without one.
pub fn command(ns: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Runs `ip` with `args`; fails the test with its output unless it succeeds.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {} failed (the network partition scenarios need root and iproute2): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ip` with `args` inside `ns`.
fn ip_in(ns: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, "ip"];
    all.extend_from_slice(args);
    ip(&all);
}

/// Sets sysctls inside `ns` only.
fn sysctl_in(ns: &str, settings: &[String]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-q", "-w"])
        .args(settings)
        .output()
        .expect("run sysctl");
    assert!(
        out.status.success(),
        "sysctl in {ns} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces of test processes that no longer run (killed before they could).
fn sweep() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// One namespace, deleted on drop.
#[derive(Debug)]
struct Netns {
    name: String,
}

impl Netns {
    fn create(name: String) -> Self {
        ip(&["netns", "add", &name]);
        let ns = Self { name };
        // lo with 127.0.0.1 only: the rest of 127.0.0.0/8 must not be local here.
        ip_in(&ns.name, &["link", "set", "lo", "up"]);
        ip_in(&ns.name, &["addr", "del", "127.0.0.1/8", "dev", "lo"]);
        ip_in(&ns.name, &["addr", "add", "127.0.0.1/32", "dev", "lo"]);
        sysctl_in(
            &ns.name,
            &[
                "net.ipv4.conf.all.route_localnet=1".to_owned(),
                "net.ipv4.conf.default.route_localnet=1".to_owned(),
            ],
        );
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A veth pair between kmirror's namespace and a cluster's.
#[derive(Debug)]
pub struct Link {
    /// The cluster's namespace and its end of the pair.
    far_ns: String,
    far_dev: String,
}

impl Link {
    /// `near` (kmirror's end, `127.77.<subnet>.1`) to `far` (`127.77.<subnet>.2`).
    fn join(near: &Netns, near_dev: &str, far: &Netns, far_dev: &str, subnet: u32) -> (Self, String) {
        ip(&[
            "link", "add", near_dev, "netns", &near.name, "type", "veth", "peer", "name", far_dev, "netns",
            &far.name,
        ]);
        for (ns, dev, host) in [(near, near_dev, 1), (far, far_dev, 2)] {
            sysctl_in(&ns.name, &[format!("net.ipv4.conf.{dev}.route_localnet=1")]);
            ip_in(
                &ns.name,
                &["addr", "add", &format!("127.77.{subnet}.{host}/30"), "dev", dev],
            );
            ip_in(&ns.name, &["link", "set", dev, "up"]);
        }
        let link = Self {
            far_ns: far.name.clone(),
            far_dev: far_dev.to_owned(),
        };
        (link, format!("127.77.{subnet}.2"))
    }

    /// Takes the cluster's end down: nothing passes until [`Link::restore`].
    pub fn cut(&self) {
        ip_in(&self.far_ns, &["link", "set", &self.far_dev, "down"]);
    }

    pub fn restore(&self) {
        ip_in(&self.far_ns, &["link", "set", &self.far_dev, "up"]);
    }
}

/// Source, kmirror and target in namespaces of their own (see the module docs).
#[derive(Debug)]
pub struct Topology {
    pub source: Place,
    pub target: Place,
    /// kmirror's namespace.
    pub kmirror: String,
    pub to_source: Link,
    pub to_target: Link,
    // Dropped last: the links' interfaces go with them.
    _namespaces: Vec<Netns>,
}

impl Topology {
    pub fn create() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        sweep();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = |role: &str| format!("{PREFIX}{}-{n}-{role}", std::process::id());
        let (s, k, t) = (
            Netns::create(name("s")),
            Netns::create(name("k")),
            Netns::create(name("t")),
        );
        // Two /30 subnets per topology; the third octet keeps hosts unique within the process.
        let subnet = 1 + (2 * n) % 250;
        let (to_source, source_host) = Link::join(&k, "vs", &s, "vk", subnet);
        let (to_target, target_host) = Link::join(&k, "vt", &t, "vk", subnet + 1);
        let source = Place {
            ns: s.name.clone(),
            host: source_host,
        };
        let target = Place {
            ns: t.name.clone(),
            host: target_host,
        };
        {
            let mut hosts = HOSTS.lock().unwrap_or_else(|p| p.into_inner());
            let hosts = hosts.get_or_insert_with(HashMap::new);
            for p in [&source, &target] {
                let _ = hosts.insert(p.host.clone(), p.ns.clone());
            }
        }
        Self {
            source,
            target,
            kmirror: k.name.clone(),
            to_source,
            to_target,
            _namespaces: vec![s, k, t],
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(hosts) = HOSTS.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            for p in [&self.source, &self.target] {
                let _ = hosts.remove(&p.host);
            }
        }
    }
}
