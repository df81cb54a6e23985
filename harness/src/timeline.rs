//! The timeline: one self-contained HTML file with an SVG of a run.
//!
//! Owns [`render`]. Hosts are lanes, every trace entry is a dot on its
//! host's lane (hover for the trace line), causal links between hosts are
//! arrows (from the scenario's [`LinkRule`]s), fault windows are shaded, and
//! a failing check is marked with a red line at its simulated time. No
//! scripts, no external assets: the file opens anywhere. It only reads the
//! trace; it never runs anything.

use crate::check::Failure;
use crate::trace::{Entry, EntryKind, HarnessEvent, Trace};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// An arrow from the latest unmatched `from` event to each `to` event (by
/// event name, the first word of a trace line). With `key`, the two must
/// carry the same value for that field (`url=…`).
#[derive(Debug, Clone, Copy)]
pub struct LinkRule {
    /// Event name the arrow starts at.
    pub from: &'static str,
    /// Event name the arrow ends at.
    pub to: &'static str,
    /// A field both events must share (`url`), if any.
    pub key: Option<&'static str>,
}

const LANE_H: f64 = 34.0;
const LEFT: f64 = 150.0;
const TOP: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn event_text(e: &Entry) -> String {
    e.kind.to_string()
}

fn name_of(text: &str) -> &str {
    text.split(' ').next().unwrap_or("")
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!(" {key}=");
    let at = text.find(&needle)? + needle.len();
    Some(text[at..].split(' ').next().unwrap_or(""))
}

/// The timeline of a run as one self-contained HTML page.
pub fn render(
    title: &str,
    trace: &Trace,
    end: Duration,
    failure: Option<&Failure>,
    links: &[LinkRule],
) -> String {
    // Lanes in order of first appearance, harness first.
    let mut lanes: Vec<&'static str> = vec!["harness"];
    for e in &trace.entries {
        if !lanes.contains(&e.host) {
            lanes.push(e.host);
        }
    }
    let lane_of: BTreeMap<&str, usize> = lanes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let end_s = end
        .as_secs_f64()
        .max(
            trace
                .entries
                .last()
                .map(|e| e.at.as_secs_f64())
                .unwrap_or(0.0),
        )
        .max(1.0);
    let px_per_s = (2000.0 / end_s).clamp(12.0, 200.0);
    let width = LEFT + end_s * px_per_s + 40.0;
    let height = TOP + lanes.len() as f64 * LANE_H + 40.0;
    let x = |t: Duration| LEFT + t.as_secs_f64() * px_per_s;
    let y =
        |host: &str| TOP + lane_of.get(host).copied().unwrap_or(0) as f64 * LANE_H + LANE_H / 2.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="monospace" font-size="11">"#
    );
    svg.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##);
    svg.push('\n');

    // Fault windows (behind everything).
    let mut open: BTreeMap<String, Duration> = BTreeMap::new();
    let mut windows: Vec<(String, Duration, Duration)> = Vec::new();
    let mut heal: Option<Duration> = None;
    for e in &trace.entries {
        match &e.kind {
            EntryKind::Fault(f) => {
                if let Some(band) = f.band() {
                    if band.open {
                        open.entry(band.label).or_insert(e.at);
                    } else if let Some(t0) = open.remove(&band.label) {
                        windows.push((band.label, t0, e.at));
                    }
                }
            }
            EntryKind::Harness(HarnessEvent::Heal) => heal = Some(e.at),
            _ => {}
        }
    }
    let close = heal.unwrap_or(end);
    for (key, t0) in open {
        windows.push((key, t0, close));
    }
    for (key, t0, t1) in &windows {
        let _ = writeln!(
            svg,
            r##"<rect class="fault-window" x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#e4572e" fill-opacity="0.12"><title>{} {:.3}s..{:.3}s</title></rect>"##,
            x(*t0),
            (x(*t1) - x(*t0)).max(1.0),
            lanes.len() as f64 * LANE_H,
            esc(key),
            t0.as_secs_f64(),
            t1.as_secs_f64()
        );
    }

    // Lanes.
    for (i, host) in lanes.iter().enumerate() {
        let ly = TOP + i as f64 * LANE_H + LANE_H / 2.0;
        let _ = writeln!(
            svg,
            r##"<g class="lane" data-host="{host}"><line x1="{LEFT}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#ccc"/><text x="8" y="{:.1}">{host}</text></g>"##,
            width - 20.0,
            ly + 4.0
        );
    }
    // Time axis.
    let step = if end_s > 120.0 {
        10
    } else if end_s > 20.0 {
        5
    } else {
        1
    };
    let mut t = 0;
    while (t as f64) <= end_s {
        let tx = LEFT + t as f64 * px_per_s;
        let _ = writeln!(
            svg,
            r##"<g class="tick"><line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#eee"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{t}s</text></g>"##,
            TOP - 8.0,
            height - 30.0,
            TOP - 12.0
        );
        t += step;
    }
    if let Some(h) = heal {
        let _ = writeln!(
            svg,
            r##"<line class="heal" x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#2e7d32" stroke-dasharray="4 3"><title>heal {2:.3}s</title></line>"##,
            x(h),
            height - 30.0,
            h.as_secs_f64()
        );
    }

    // Links.
    let texts: Vec<String> = trace.entries.iter().map(event_text).collect();
    for rule in links {
        let mut pending: Vec<usize> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let name = name_of(text);
            if name == rule.to {
                let key_val = rule.key.and_then(|k| field(text, k));
                let pos = pending.iter().rposition(|&j| match (rule.key, key_val) {
                    (Some(k), Some(v)) => field(&texts[j], k) == Some(v),
                    _ => true,
                });
                if let Some(p) = pos {
                    let j = pending.remove(p);
                    let (a, b) = (&trace.entries[j], &trace.entries[i]);
                    let _ = writeln!(
                        svg,
                        r##"<line class="link" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555" stroke-width="1" marker-end="url(#arrow)"><title>{} → {}</title></line>"##,
                        x(a.at),
                        y(a.host),
                        x(b.at),
                        y(b.host),
                        esc(rule.from),
                        esc(rule.to)
                    );
                }
            }
            if name == rule.from {
                pending.push(i);
            }
        }
    }

    // Events.
    for (e, text) in trace.entries.iter().zip(&texts) {
        let color = match e.kind {
            EntryKind::Core(_) => "#1f6fb2",
            EntryKind::Peer(_) | EntryKind::Harness(_) => "#2e7d32",
            EntryKind::Fault(_) => "#e4572e",
        };
        let _ = writeln!(
            svg,
            r#"<circle class="event" cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{}</title></circle>"#,
            x(e.at),
            y(e.host),
            esc(&e.to_string())
        );
        let _ = text;
    }

    // The failure.
    if let Some(f) = failure {
        let fx = x(f.at);
        let _ = writeln!(
            svg,
            r##"<g class="failure"><line x1="{fx:.1}" y1="{:.1}" x2="{fx:.1}" y2="{:.1}" stroke="#c62828" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="#c62828">{} ({}) at {:.3}s: {}</text></g>"##,
            TOP - 30.0,
            height - 30.0,
            fx + 4.0,
            TOP - 34.0,
            esc(&f.check),
            f.kind,
            f.at.as_secs_f64(),
            esc(f.detail.lines().next().unwrap_or(""))
        );
    }
    svg.push_str("</svg>\n");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:monospace;margin:16px}} .legend span{{margin-right:18px}} svg circle:hover{{r:7}}</style></head>\n<body>\n<h1>{t}</h1>\n<p class=\"legend\"><span style=\"color:#1f6fb2\">● core event</span><span style=\"color:#2e7d32\">● peer event</span><span style=\"color:#e4572e\">● fault</span><span>shaded: fault window</span><span style=\"color:#2e7d32\">dashed: heal</span><span style=\"color:#c62828\">red: failing check</span> (hover a dot for its trace line)</p>\n<div style=\"overflow-x:auto\">\n{svg}</div>\n</body></html>\n",
        t = esc(title)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_names() {
        assert_eq!(field("peer.open url=tcp://x/y", "url"), Some("tcp://x/y"));
        assert_eq!(
            field("egress.start dest=t reason=r url=u", "dest"),
            Some("t")
        );
        assert_eq!(name_of("peer.open url=u"), "peer.open");
        assert_eq!(esc("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
