//! The pages' charts, drawn with plotters into SVG text.
//!
//! Each function returns one `<svg>` element to put in a page as it is.
//! Text is left to the browser (plotters' SVG backend writes `<text>`
//! elements, escaped), so no font file is read here. A value axis turns
//! logarithmic when its values span [`LOG_SPAN`] or more and none is zero.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::record::{Distribution, Measurement};

/// The ratio of the largest to the smallest value from which an axis is logarithmic.
pub const LOG_SPAN: f64 = 20.0;

/// Colours of the three sides, the same on every chart.
pub const BASELINE: RGBColor = RGBColor(140, 140, 140);
pub const YOURS: RGBColor = RGBColor(31, 119, 180);
pub const SOLUTION: RGBColor = RGBColor(44, 160, 44);
const INK: RGBColor = RGBColor(40, 40, 40);

const FONT: &str = "sans-serif";
/// Text size of labels (plotters writes a font size of this / 1.24 px).
const LABEL: f64 = 16.0;

/// One bar of a bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Written at the bar's end (`20.0k · 80x`).
    pub text: String,
    pub color: RGBColor,
}

/// `0.000123` → `1.23e-4`, `41234567` → `41.2M`: a value in a few characters.
pub fn number(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 { format!("{value:.2e}") } else { crate::labs::short(value) }
}

/// A ratio to the baseline: `80x`, `12.5x`, `0.93x`.
pub fn ratio(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}x")
    } else if value >= 10.0 {
        format!("{value:.1}x")
    } else {
        format!("{value:.2}x")
    }
}

/// Whether values this far apart read better on a logarithmic axis.
fn wants_log(low: f64, high: f64) -> bool {
    low > 0.0 && high / low >= LOG_SPAN
}

/// The least and greatest of `values`.
fn bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((low, high)) => Some((low.min(v), high.max(v))),
    })
}

/// A measurement's value for the baseline, the target and the solution (when
/// given): horizontal bars, the ratio to the baseline after each side's value.
/// `None` when no value is a finite number.
pub fn measurement_bars(m: &Measurement, solution: Option<&Measurement>) -> anyhow::Result<Option<String>> {
    let side = |label: &str, value: f64, versus: Option<f64>, color| Bar {
        label: label.into(),
        value,
        text: match versus {
            Some(r) => format!("{} · {}", number(value), ratio(r)),
            None => number(value),
        },
        color,
    };
    let mut bars = vec![side("baseline", m.baseline, None, BASELINE), side("yours", m.target, Some(m.ratio), YOURS)];
    if let Some(s) = solution {
        bars.push(side("solution", s.target, Some(s.ratio), SOLUTION));
    }
    bars.retain(|bar| bar.value.is_finite() && bar.value >= 0.0);
    if bars.is_empty() {
        return Ok(None);
    }
    let (low, high) = bounds(bars.iter().map(|b| b.value)).unwrap_or((0.0, 1.0));
    let size = (460, 60 + 34 * bars.len() as u32);
    let svg = if wants_log(low, high) {
        // Room after the longest bar for its text: the axis runs on by almost half again.
        let decades = (high / low).log10();
        let axis = (low / 2.0..high * 10f64.powf(decades * 0.5)).log_scale();
        hbars(&bars, &m.unit, size, axis, low / 2.0, &|v| number(*v))?
    } else {
        hbars(&bars, &m.unit, size, 0.0..(high * 1.5).max(1e-9), 0.0, &|v| number(*v))?
    };
    Ok(Some(svg))
}

/// Each check's pass rate in percent, `(check, passed, of)`, as horizontal bars.
pub fn pass_rates(rates: &[(String, usize, usize)]) -> anyhow::Result<String> {
    let bars: Vec<Bar> = rates
        .iter()
        .map(|(check, passed, of)| {
            let percent = 100.0 * *passed as f64 / (*of).max(1) as f64;
            Bar {
                label: check.clone(),
                value: percent,
                text: format!("{percent:.0} % ({passed} of {of})"),
                color: YOURS,
            }
        })
        .collect();
    // A fixed axis, so the charts of several labs compare, with room past
    // 100 % for a full bar's text (and no tick there).
    let size = (720, 60 + 28 * bars.len() as u32);
    let tick = |v: &f64| if *v <= 100.0 { format!("{v:.0}") } else { String::new() };
    hbars(&bars, "students who passed (%)", size, 0.0..175.0, 0.0, &tick)
}

/// Horizontal bars on the value axis `x`, one per row from the top, each
/// from `start`, with its text at its end; `tick` labels the axis.
fn hbars<X>(
    bars: &[Bar],
    unit: &str,
    size: (u32, u32),
    x: X,
    start: f64,
    tick: &dyn Fn(&f64) -> String,
) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let rows = bars.len() as u32;
        let widest = bars.iter().map(|b| b.label.len()).max().unwrap_or(0) as u32;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .margin_right(16)
            .x_label_area_size(44)
            .y_label_area_size(14 + 8 * widest)
            .build_cartesian_2d(x, (0..rows.saturating_sub(1)).into_segmented())?;
        // A segmented axis of 0..=n-1 has a row per bar; plotters counts rows
        // from the bottom, and the first bar goes on top.
        let row = |i: u32| rows.saturating_sub(i + 1);
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let row_label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if *i < rows => labels.get(row(*i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(5)
            .x_label_formatter(tick)
            .y_label_formatter(&row_label)
            .x_desc(unit)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .light_line_style(WHITE)
            .draw()?;
        for (i, bar) in (0u32..).zip(bars) {
            let (top, bottom) = (SegmentValue::Exact(row(i)), SegmentValue::Exact(row(i) + 1));
            let end = bar.value.max(start);
            let mut rectangle = Rectangle::new([(start, top), (end, bottom)], bar.color.filled());
            rectangle.set_margin(3, 3, 0, 0);
            chart.draw_series([rectangle])?;
            let style = TextStyle::from((FONT, LABEL).into_font()).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
            let text = Text::new(bar.text.clone(), (6, 0), style);
            chart.draw_series([EmptyElement::at((end, SegmentValue::CenterOf(row(i)))) + text])?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// One line of a CDF chart: a side's name, colour and percentiles.
struct Line<'a> {
    name: &'a str,
    color: RGBColor,
    percentiles: &'a [f64],
}

/// The latency CDF of a measurement's per-request values: for each value,
/// the share of requests that took at most that long, a line per side
/// (baseline, yours, and the solution's when given). `None` when no side
/// has values.
pub fn cdf(d: &Distribution, solution: Option<&Distribution>) -> anyhow::Result<Option<String>> {
    let mut lines = vec![
        Line { name: "baseline", color: BASELINE, percentiles: &d.baseline },
        Line { name: "yours", color: YOURS, percentiles: &d.target },
    ];
    if let Some(s) = solution {
        lines.push(Line { name: "solution", color: SOLUTION, percentiles: &s.target });
    }
    lines.retain(|line| line.percentiles.iter().any(|v| v.is_finite()));
    let Some((low, high)) = bounds(lines.iter().flat_map(|l| l.percentiles.iter().copied()).filter(|v| v.is_finite()))
    else {
        return Ok(None);
    };
    let size = (460, 300 + KEY_HEIGHT);
    let svg = if wants_log(low, high) {
        cdf_on(&lines, &d.unit, size, (low / 1.2..high * 1.2).log_scale())?
    } else {
        let pad = ((high - low) * 0.05).max(high.abs() * 0.05).max(1e-9);
        cdf_on(&lines, &d.unit, size, (low - pad).max(0.0)..high + pad)?
    };
    Ok(Some(svg))
}

fn cdf_on<X>(lines: &[Line], unit: &str, size: (u32, u32), x: X) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, body) = root.split_vertically(KEY_HEIGHT);
        let items: Vec<(&str, RGBColor, Mark)> = lines.iter().map(|l| (l.name, l.color, Mark::Line)).collect();
        key(&top, 70, &items)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .margin_top(4)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(x, 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| number(*v))
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .x_desc(unit)
            .y_desc("requests at most")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for line in lines {
            let points = (0..).zip(line.percentiles).filter(|(_, v)| v.is_finite()).map(|(p, v)| {
                // With fewer than 101 values, spread them over 0..100 %.
                let share = f64::from(p) * 100.0 / (line.percentiles.len().max(2) - 1) as f64;
                (*v, share)
            });
            chart.draw_series(LineSeries::new(points, line.color.stroke_width(2)))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Height of the strip above a chart that names its series.
const KEY_HEIGHT: u32 = 26;

/// How the key draws a series.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Line,
    Dot,
    Cross,
    Tick,
}

/// The series' names in a row, each after its mark, from `left` px in.
fn key(area: &DrawingArea<SVGBackend, Shift>, left: i32, items: &[(&str, RGBColor, Mark)]) -> anyhow::Result<()> {
    let y = KEY_HEIGHT as i32 / 2 + 2;
    let mut x = left;
    for (name, color, mark) in items {
        match mark {
            Mark::Line => area.draw(&PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)))?,
            Mark::Dot => area.draw(&Circle::new((x + 10, y), 4, color.mix(0.6).filled()))?,
            Mark::Cross => area.draw(&Cross::new((x + 10, y), 6, color.stroke_width(3)))?,
            Mark::Tick => area.draw(&PathElement::new([(x + 10, y - 7), (x + 10, y + 7)], color.stroke_width(2)))?,
        }
        let style = TextStyle::from((FONT, LABEL).into_font()).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(name.to_string(), (x + 26, y), style))?;
        x += 26 + 7 * name.len() as i32 + 22;
    }
    Ok(())
}

/// A histogram of total scores out of `max`, in ten bins.
pub fn score_histogram(totals: &[f64], max: f64) -> anyhow::Result<String> {
    let max = if max > 0.0 { max } else { 100.0 };
    let width = max / 10.0;
    let mut counts = [0u32; 10];
    for total in totals.iter().filter(|t| t.is_finite()) {
        // The top bin holds full marks.
        let bin = ((total / width).floor().max(0.0) as usize).min(9);
        counts[bin] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0) + 1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..max, 0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(11)
            .y_labels(top.min(10) as usize + 1)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_desc(format!("total score (of {})", number(max)))
            .y_desc("students")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()?;
        let bins = (0..).zip(counts).filter(|(_, n)| *n > 0);
        chart.draw_series(bins.map(|(i, n)| {
            let left = f64::from(i) * width;
            Rectangle::new([(left + width * 0.04, 0), (left + width * 0.96, n)], YOURS.filled())
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// One row of the speedup chart: a measurement, each student's ratio to the
/// baseline, and the solution's.
#[derive(Debug, Clone)]
pub struct Speedups {
    pub measurement: String,
    pub ratios: Vec<f64>,
    pub solution: Option<f64>,
}

/// Each student's ratio (baseline / theirs) per measurement as a dot on a
/// logarithmic axis, a row per measurement, the solution's as a cross and
/// the baseline (1x) as a line. `None` when there is no ratio to draw.
pub fn speedups(rows: &[Speedups]) -> anyhow::Result<Option<String>> {
    let usable = |r: &f64| r.is_finite() && *r > 0.0;
    let all = rows.iter().flat_map(|row| row.ratios.iter().chain(row.solution.iter())).copied().filter(usable);
    let Some((low, high)) = bounds(all.chain([1.0])) else { return Ok(None) };
    if rows.iter().all(|row| row.ratios.iter().all(|r| !usable(r))) {
        return Ok(None);
    }
    let (low, high) = (low / 1.6, high * 1.6);
    let count = rows.len() as u32;
    let widest = rows.iter().map(|r| r.measurement.len()).max().unwrap_or(0) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 70 + KEY_HEIGHT + 34 * count)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, body) = root.split_vertically(KEY_HEIGHT);
        let y_labels = 14 + 8 * widest;
        key(
            &top,
            y_labels as i32 + 10,
            &[
                ("a student", YOURS, Mark::Dot),
                ("the solution", SOLUTION, Mark::Cross),
                ("the baseline (1x)", BASELINE, Mark::Tick),
            ],
        )?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .margin_top(4)
            .margin_right(20)
            .x_label_area_size(44)
            .y_label_area_size(y_labels)
            .build_cartesian_2d((low..high).log_scale(), (0..count.saturating_sub(1)).into_segmented())?;
        // A row per measurement (0..=n-1), the first on top.
        let row = |i: u32| count.saturating_sub(i + 1);
        let names: Vec<String> = rows.iter().map(|r| r.measurement.clone()).collect();
        let row_label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if *i < count => names.get(row(*i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(8)
            .x_label_formatter(&|v| ratio(*v))
            .y_label_formatter(&row_label)
            .x_desc("baseline / student (right of 1x: better than the baseline)")
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(count))],
            BASELINE.stroke_width(2),
        ))?;
        let mut students = Vec::new();
        let mut solutions = Vec::new();
        for (at, measured) in (0u32..).map(row).zip(rows) {
            for (k, ratio) in (0i32..).zip(&measured.ratios).filter(|(_, r)| usable(r)) {
                // Spread the dots over the row (the same spread every time) so equal ratios stay visible.
                let offset = (k * 7 % 13) - 6;
                students.push((*ratio, at, offset));
            }
            if let Some(s) = measured.solution.filter(usable) {
                solutions.push((s, at));
            }
        }
        chart.draw_series(students.into_iter().map(|(ratio, i, offset)| {
            EmptyElement::at((ratio, SegmentValue::CenterOf(i))) + Circle::new((0, offset), 4, YOURS.mix(0.6).filled())
        }))?;
        chart.draw_series(solutions.into_iter().map(|(ratio, i)| {
            EmptyElement::at((ratio, SegmentValue::CenterOf(i))) + Cross::new((0, 0), 7, SOLUTION.stroke_width(3))
        }))?;
        root.present()?;
    }
    Ok(Some(svg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rubric::MethodKind;

    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_string()))
            .collect()
    }

    #[test]
    fn bars_name_each_side_and_turn_logarithmic_over_orders_of_magnitude() {
        let m = Measurement::counted(MethodKind::Callgrind, "cpu", "instructions/request", "x".into(), 1.6e6, 2.0e4);
        let mut s = m.clone();
        s.target = 1.0e4;
        s.ratio = 160.0;
        let svg = measurement_bars(&m, Some(&s)).unwrap().expect("a chart");
        assert!(svg.starts_with("<svg"), "{svg}");
        let texts = texts(&svg);
        for name in ["baseline", "yours", "solution", "instructions/request"] {
            assert!(texts.iter().any(|t| t == name), "{name} in {texts:?}");
        }
        assert!(texts.iter().any(|t| t == "20.0k · 80.0x"), "the ratio: {texts:?}");
        // Axis ticks of a log axis are powers of ten (labels 1.0k, 10.0k, ...).
        assert!(texts.iter().any(|t| t == "10.0k"), "{texts:?}");
    }

    #[test]
    fn a_measurement_with_no_finite_value_has_no_chart() {
        let mut m = Measurement::counted(MethodKind::Count, "q", "queries", "x".into(), f64::NAN, f64::NAN);
        m.target = f64::INFINITY;
        assert!(measurement_bars(&m, None).unwrap().is_none());
    }

    #[test]
    fn a_cdf_has_a_line_per_side_with_values() {
        let d = Distribution::of("a lookup", "ms", &[1.0, 2.0, 40.0], &[0.5, 0.6]);
        let svg = cdf(&d, None).unwrap().expect("a chart");
        let texts = texts(&svg);
        assert!(texts.iter().any(|t| t == "baseline") && texts.iter().any(|t| t == "yours"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "solution"), "{texts:?}");
        let lines = |color: RGBColor| {
            svg.matches(&format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2)).count()
        };
        assert_eq!((lines(BASELINE), lines(YOURS), lines(SOLUTION)), (2, 2, 0), "a line and its legend's mark each");
        let empty = Distribution::of("a lookup", "ms", &[], &[]);
        assert!(cdf(&empty, None).unwrap().is_none());
    }

    #[test]
    fn speedups_need_a_ratio() {
        let rows = [Speedups { measurement: "cpu".into(), ratios: vec![f64::NAN], solution: Some(3.0) }];
        assert!(speedups(&rows).unwrap().is_none());
        let rows = [Speedups { measurement: "cpu".into(), ratios: vec![2.0, 0.5], solution: Some(8.0) }];
        let svg = speedups(&rows).unwrap().expect("a chart");
        assert!(texts(&svg).iter().any(|t| t == "the solution"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2 + 1, "a dot per student and the legend's");
    }
}
