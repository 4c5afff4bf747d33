//! Figures, goals, and the tables and JSON they are printed as.
//!
//! Every suite turns its measurements into [`Figure`]s: a name, a unit, a value and which way is
//! better. The tables know nothing about suites: they line figures up by name, so a new suite's
//! figures appear in the comparison without touching this module.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// The unit a figure's value is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Microseconds (latencies).
    Micros,
    /// Bytes (memory).
    Bytes,
    /// Events per second (throughput).
    PerSec,
}

impl Unit {
    /// Whether a larger value is better for a figure in this unit.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::PerSec)
    }

    /// The value in a human unit: `188 µs`, `5.52 ms`, `1.20 s`, `78.4 MiB`, `5321/s`.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Micros if v < 100.0 => format!("{v:.1} µs"),
            Unit::Micros if v < 1000.0 => format!("{v:.0} µs"),
            Unit::Micros if v < 10_000.0 => format!("{:.2} ms", v / 1000.0),
            Unit::Micros if v < 100_000.0 => format!("{:.1} ms", v / 1000.0),
            Unit::Micros if v < 1_000_000.0 => format!("{:.0} ms", v / 1000.0),
            Unit::Micros => format!("{:.2} s", v / 1_000_000.0),
            Unit::Bytes => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
            Unit::PerSec => format!("{v:.0}/s"),
        }
    }
}

/// One measured number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub name: String,
    pub unit: Unit,
    pub value: f64,
}

impl Figure {
    pub fn micros(name: impl Into<String>, d: Duration) -> Figure {
        Figure {
            name: name.into(),
            unit: Unit::Micros,
            value: d.as_secs_f64() * 1e6,
        }
    }
    pub fn bytes(name: impl Into<String>, b: u64) -> Figure {
        Figure {
            name: name.into(),
            unit: Unit::Bytes,
            value: b as f64,
        }
    }
    pub fn per_sec(name: impl Into<String>, v: f64) -> Figure {
        Figure {
            name: name.into(),
            unit: Unit::PerSec,
            value: v,
        }
    }
}

/// A figure that could not be measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub name: String,
    pub reason: String,
}

/// A target for berthd: the figure's value must not exceed `max` (or, for a rate, fall below it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goal {
    pub name: &'static str,
    pub unit: Unit,
    pub limit: f64,
}

impl Goal {
    pub fn met(&self, value: f64) -> bool {
        if self.unit.higher_is_better() {
            value >= self.limit
        } else {
            value <= self.limit
        }
    }

    fn describe(&self) -> String {
        let op = if self.unit.higher_is_better() {
            "≥"
        } else {
            "≤"
        };
        format!("{op} {}", self.unit.format(self.limit))
    }
}

/// Figure names shared by the harness and the goals.
pub mod names {
    pub const START: &str = "start to ready (median)";
    pub const START_COLD: &str = "start to ready (empty root)";
    pub const IDLE_RSS: &str = "idle RSS (daemon + children)";
    pub const RSS_AFTER: &str = "RSS after the suites";
}

/// The goals of the benchmark issue (measured against dockerd 20.10 when they were set).
pub fn goals() -> Vec<Goal> {
    vec![
        // Issue 4: at least 6x faster than dockerd's 297 ms; 20 at once within 0.6 s.
        Goal {
            name: "run --rm true (default) p50",
            unit: Unit::Micros,
            limit: 49_500.0,
        },
        Goal {
            name: "run --rm true (default) x20 parallel",
            unit: Unit::Micros,
            limit: 600_000.0,
        },
        Goal {
            name: "api /_ping p50",
            unit: Unit::Micros,
            limit: 60.0,
        },
        Goal {
            name: "api /version p50",
            unit: Unit::Micros,
            limit: 100.0,
        },
        Goal {
            name: "api /info p50",
            unit: Unit::Micros,
            limit: 300.0,
        },
        Goal {
            name: names::IDLE_RSS,
            unit: Unit::Bytes,
            limit: 15.0 * 1024.0 * 1024.0,
        },
        Goal {
            name: names::START,
            unit: Unit::Micros,
            limit: 20_000.0,
        },
    ]
}

/// Everything measured about one engine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineReport {
    /// `berthd`, `dockerd`, or the socket path for `api`.
    pub engine: String,
    /// The binary that was started, if the bench started it.
    pub binary: Option<String>,
    /// `Version` and `ApiVersion` from `/version`.
    pub version: Option<String>,
    pub api_version: Option<String>,
    /// Why the engine could not be measured at all (the figures are then empty).
    pub error: Option<String>,
    pub figures: Vec<Figure>,
    pub failures: Vec<Failure>,
    /// Resident memory per process at idle (the daemon, then its children).
    pub idle_processes: Vec<crate::procfs::ProcRss>,
}

impl EngineReport {
    pub fn named(engine: impl Into<String>) -> EngineReport {
        EngineReport {
            engine: engine.into(),
            ..EngineReport::default()
        }
    }

    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }

    fn failure(&self, name: &str) -> Option<&Failure> {
        self.failures.iter().find(|f| f.name == name)
    }

    fn cell(&self, name: &str) -> String {
        if let Some(f) = self.figure(name) {
            f.unit.format(f.value)
        } else if self.failure(name).is_some() {
            "failed".into()
        } else {
            "-".into()
        }
    }

    fn title(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.engine),
            None => self.engine.clone(),
        }
    }
}

/// How many times better `candidate` is than `baseline`: baseline ÷ candidate for times and
/// memory, candidate ÷ baseline for rates. `None` when either is zero or missing.
pub fn gain(unit: Unit, candidate: f64, baseline: f64) -> Option<f64> {
    let (num, den) = if unit.higher_is_better() {
        (candidate, baseline)
    } else {
        (baseline, candidate)
    };
    (num > 0.0 && den > 0.0 && num.is_finite() && den.is_finite()).then(|| num / den)
}

/// `3.10×`, `31.4×`, `188×`.
pub fn format_gain(g: f64) -> String {
    if g < 10.0 {
        format!("{g:.2}×")
    } else if g < 100.0 {
        format!("{g:.1}×")
    } else {
        format!("{g:.0}×")
    }
}

/// Figure names of all reports, in the order of the report that measured the most (a report
/// whose engine failed some figures lists them at the end, which would tear suites apart).
fn row_names(reports: &[&EngineReport]) -> Vec<String> {
    let mut by_size: Vec<&&EngineReport> = reports.iter().collect();
    by_size.sort_by_key(|r| std::cmp::Reverse(r.figures.len()));
    let mut names: Vec<String> = Vec::new();
    for r in by_size {
        for n in r
            .figures
            .iter()
            .map(|f| &f.name)
            .chain(r.failures.iter().map(|f| &f.name))
        {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    names
}

fn goal_cell(goals: &[Goal], name: &str, candidate: Option<&EngineReport>) -> String {
    let Some(goal) = goals.iter().find(|g| g.name == name) else {
        return String::new();
    };
    match candidate.and_then(|c| c.figure(name)) {
        Some(f) if goal.met(f.value) => format!("{} met", goal.describe()),
        Some(_) => format!("{} MISSED", goal.describe()),
        None => goal.describe(),
    }
}

/// Lays out rows of cells with every column padded to its widest cell; the first and the last
/// column (names and goals) are left-aligned, the numbers between them right-aligned.
pub fn layout(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else if c + 1 == cols {
                line.push_str("  ");
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str("  ");
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn notes(out: &mut String, reports: &[&EngineReport]) {
    for r in reports {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{}: not measured: {e}", r.engine);
        }
        for f in &r.failures {
            let _ = writeln!(out, "{}: {}: {}", r.engine, f.name, f.reason);
        }
    }
}

/// The table of one engine, with berthd's goals beside the figures they apply to; they are
/// marked met or missed unless the engine is dockerd.
pub fn render_single(report: &EngineReport, goals: &[Goal]) -> String {
    let judged = (report.engine != "dockerd").then_some(report);
    let mut rows = vec![vec![
        "figure".to_string(),
        report.title(),
        "goal (berthd)".to_string(),
    ]];
    for name in row_names(&[report]) {
        rows.push(vec![
            name.clone(),
            report.cell(&name),
            goal_cell(goals, &name, judged),
        ]);
    }
    let mut out = layout(&rows);
    notes(&mut out, &[report]);
    out
}

/// The side-by-side table of a candidate (berthd) and a baseline (dockerd), with how many times
/// better the candidate is on each figure and whether it meets its goal.
pub fn render_compare(candidate: &EngineReport, baseline: &EngineReport, goals: &[Goal]) -> String {
    let mut rows = vec![vec![
        "figure".to_string(),
        candidate.title(),
        baseline.title(),
        "ratio".to_string(),
        "goal (berthd)".to_string(),
    ]];
    for name in row_names(&[candidate, baseline]) {
        let ratio = match (candidate.figure(&name), baseline.figure(&name)) {
            (Some(c), Some(b)) => gain(c.unit, c.value, b.value)
                .map(format_gain)
                .unwrap_or_default(),
            _ => String::new(),
        };
        rows.push(vec![
            name.clone(),
            candidate.cell(&name),
            baseline.cell(&name),
            ratio,
            goal_cell(goals, &name, Some(candidate)),
        ]);
    }
    let mut out = layout(&rows);
    let _ = writeln!(
        out,
        "ratio: how many times better {} is ({} ÷ {} for times and memory, the inverse for rates)",
        candidate.engine, baseline.engine, candidate.engine
    );
    notes(&mut out, &[candidate, baseline]);
    out
}

/// One row of the JSON comparison.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub name: String,
    pub unit: Unit,
    pub candidate: Option<f64>,
    pub baseline: Option<f64>,
    /// How many times better the candidate is (see [`gain`]).
    pub gain: Option<f64>,
    pub goal: Option<f64>,
    pub goal_met: Option<bool>,
}

/// The rows of [`render_compare`] as data.
pub fn compare_rows(
    candidate: &EngineReport,
    baseline: &EngineReport,
    goals: &[Goal],
) -> Vec<Comparison> {
    row_names(&[candidate, baseline])
        .into_iter()
        .filter_map(|name| {
            let c = candidate.figure(&name);
            let b = baseline.figure(&name);
            let unit = c.or(b)?.unit;
            let goal = goals.iter().find(|g| g.name == name);
            Some(Comparison {
                unit,
                candidate: c.map(|f| f.value),
                baseline: b.map(|f| f.value),
                gain: c.zip(b).and_then(|(c, b)| gain(unit, c.value, b.value)),
                goal: goal.map(|g| g.limit),
                goal_met: goal.zip(c).map(|(g, c)| g.met(c.value)),
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(engine: &str, figs: &[(&str, Unit, f64)]) -> EngineReport {
        EngineReport {
            engine: engine.into(),
            figures: figs
                .iter()
                .map(|(n, u, v)| Figure {
                    name: (*n).into(),
                    unit: *u,
                    value: *v,
                })
                .collect(),
            ..EngineReport::default()
        }
    }

    #[test]
    fn units_format_humanly() {
        assert_eq!(Unit::Micros.format(58.34), "58.3 µs");
        assert_eq!(Unit::Micros.format(188.4), "188 µs");
        assert_eq!(Unit::Micros.format(5520.0), "5.52 ms");
        assert_eq!(Unit::Micros.format(20_000.0), "20.0 ms");
        assert_eq!(Unit::Micros.format(232_400.0), "232 ms");
        assert_eq!(Unit::Micros.format(2_500_000.0), "2.50 s");
        assert_eq!(Unit::Bytes.format(125.0 * 1024.0 * 1024.0), "125.0 MiB");
        assert_eq!(Unit::PerSec.format(5321.4), "5321/s");
    }

    #[test]
    fn gain_is_oriented_so_bigger_means_candidate_better() {
        assert_eq!(gain(Unit::Micros, 50.0, 200.0), Some(4.0));
        assert_eq!(gain(Unit::Bytes, 20.0, 10.0), Some(0.5));
        assert_eq!(gain(Unit::PerSec, 20_000.0, 5_000.0), Some(4.0));
        assert_eq!(gain(Unit::Micros, 0.0, 200.0), None);
        assert_eq!(format_gain(3.1), "3.10×");
        assert_eq!(format_gain(31.44), "31.4×");
        assert_eq!(format_gain(188.2), "188×");
    }

    #[test]
    fn goals_check_direction() {
        let g = goals();
        let ping = g.iter().find(|g| g.name == "api /_ping p50").unwrap();
        assert!(ping.met(60.0));
        assert!(!ping.met(60.1));
        let rate = Goal {
            name: "x",
            unit: Unit::PerSec,
            limit: 100.0,
        };
        assert!(rate.met(150.0));
        assert!(!rate.met(50.0));
    }

    #[test]
    fn compare_table_lines_up_figures_and_ratios() {
        let mut b = report(
            "berthd",
            &[
                ("api /_ping p50", Unit::Micros, 50.0),
                ("api /_ping req/s", Unit::PerSec, 18000.0),
                ("rss", Unit::Bytes, 8.0 * 1024.0 * 1024.0),
            ],
        );
        b.failures.push(Failure {
            name: "api /info p50".into(),
            reason: "status 501".into(),
        });
        let d = report(
            "dockerd",
            &[
                ("api /_ping p50", Unit::Micros, 188.0),
                ("api /_ping req/s", Unit::PerSec, 5000.0),
                ("api /info p50", Unit::Micros, 6300.0),
                ("rss", Unit::Bytes, 120.0 * 1024.0 * 1024.0),
            ],
        );
        let t = render_compare(&b, &d, &goals());
        let lines: Vec<&str> = t.lines().collect();
        let expect = [
            "figure             berthd    dockerd  ratio  goal (berthd)",
            "api /_ping p50    50.0 µs     188 µs  3.76×  ≤ 60.0 µs met",
            "api /_ping req/s  18000/s     5000/s  3.60×",
            "api /info p50      failed    6.30 ms         ≤ 300 µs",
            "rss               8.0 MiB  120.0 MiB  15.0×",
        ];
        assert_eq!(lines[..5], expect, "{t}");
        assert!(t.contains("berthd: api /info p50: status 501"));

        let rows = compare_rows(&b, &d, &goals());
        assert_eq!(rows[0].gain, Some(188.0 / 50.0));
        assert_eq!(rows[0].goal_met, Some(true));
        assert_eq!(rows[2].candidate, None);
        assert_eq!(rows[2].goal_met, None);
    }

    #[test]
    fn missed_goal_and_unmeasured_engine() {
        let b = report("berthd", &[("api /_ping p50", Unit::Micros, 75.0)]);
        let mut d = EngineReport::named("dockerd");
        d.error = Some("/usr/sbin/dockerd: not found".into());
        let t = render_compare(&b, &d, &goals());
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .ends_with("-         ≤ 60.0 µs MISSED"),
            "{t}"
        );
        assert!(t.contains("dockerd: not measured: /usr/sbin/dockerd: not found"));
    }

    #[test]
    fn single_table() {
        let mut r = report("/run/x.sock", &[("api /_ping p50", Unit::Micros, 42.0)]);
        r.version = Some("1.0".into());
        let t = render_single(&r, &goals());
        assert_eq!(t, "figure          /run/x.sock 1.0  goal (berthd)\napi /_ping p50          42.0 µs  ≤ 60.0 µs met\n");
        r.engine = "dockerd".into();
        let t = render_single(&r, &goals());
        assert!(
            t.lines().nth(1).unwrap().ends_with("42.0 µs  ≤ 60.0 µs"),
            "{t}"
        );
    }
}
