//! Line charts drawn as SVG in the page the server sends (readable without
//! JavaScript): the server computes the geometry where the readings are
//! ([`LineChart::of`]), the page draws it ([`LineChartFigure`]) with labelled
//! axes, units and an accessible name and description (what a screen
//! reader says instead of the drawing: the average, the peak and when, the
//! last reading). Numbers are written in the reader's language.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::i18n::{use_locale, Locale, Translate};

/// The drawing's size in SVG units (the page scales it to its width).
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 180.0;
/// Room for the value axis's labels on the left, the time axis's below.
const LEFT: f64 = 84.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// What a chart's values measure, and how they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChartUnit {
    Percent,
    BitsPerSecond,
    BlocksPerSecond,
    Milliseconds,
}

/// A chart ready to draw: its lines as SVG points, its axes' ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineChart {
    /// The figure's id in the page.
    pub id: String,
    /// The translation key of its title.
    pub title: String,
    pub unit: ChartUnit,
    /// The value axis: each tick's height and value.
    pub y_ticks: Vec<(f64, f64)>,
    /// The time axis: each tick's position and its time (`HH:MM`, UTC).
    pub x_ticks: Vec<(f64, String)>,
    pub lines: Vec<ChartLine>,
}

/// One line of a chart, and what its description says of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartLine {
    /// The translation key of its name (the legend).
    pub name: String,
    /// `x,y x,y …`, empty when there is no reading.
    pub points: String,
    pub average: f64,
    pub peak: f64,
    /// When the peak was (`HH:MM`, UTC).
    pub peak_at: String,
    pub last: f64,
}

/// A series of readings: its name's translation key and its (epoch
/// milliseconds, value) pairs in time order.
pub struct Series<'a> {
    pub name: &'static str,
    pub samples: &'a [(i64, f64)],
}

const DAY_MS: i64 = 86_400_000;

impl LineChart {
    /// The chart of the last 24 h of `series` ending at `end_ms` (epoch
    /// milliseconds): time from left to right, values from 0 up to a round
    /// number above the highest.
    pub fn of(id: &str, title: &str, unit: ChartUnit, series: &[Series<'_>], end_ms: i64) -> Self {
        let start_ms = end_ms - DAY_MS;
        let in_window = |samples: &'_ [(i64, f64)]| -> Vec<(i64, f64)> {
            samples
                .iter()
                .copied()
                .filter(|&(at, _)| (start_ms..=end_ms).contains(&at))
                .collect()
        };
        let windows: Vec<Vec<(i64, f64)>> = series.iter().map(|s| in_window(s.samples)).collect();
        let highest = windows.iter().flatten().map(|&(_, v)| v).fold(0.0_f64, f64::max);
        let (step, top) = value_axis(highest);
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        // Tenths of a unit are finer than any screen shows.
        let tenths = |at: f64| (at * 10.0).round() / 10.0;
        let x = |at: i64| tenths(LEFT + plot_w * (at - start_ms) as f64 / DAY_MS as f64);
        let y = |value: f64| tenths(TOP + plot_h * (1.0 - value.max(0.0) / top));
        let y_ticks = (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|value| *value <= top * (1.0 + 1e-9))
            .map(|value| (y(value), value))
            .collect();
        let first_tick = (start_ms / (6 * 3_600_000) + 1) * 6 * 3_600_000;
        let x_ticks = (0..4)
            .map(|i| first_tick + i * 6 * 3_600_000)
            .filter(|at| *at <= end_ms)
            .map(|at| (x(at), clock(at)))
            .collect();
        let lines = series
            .iter()
            .zip(windows)
            .map(|(series, samples)| {
                let points = samples
                    .iter()
                    .map(|&(at, value)| format!("{},{}", x(at), y(value)))
                    .collect::<Vec<_>>()
                    .join(" ");
                let average = match samples.len() {
                    0 => 0.0,
                    n => samples.iter().map(|&(_, v)| v).sum::<f64>() / n as f64,
                };
                let (peak_at, peak) =
                    samples
                        .iter()
                        .copied()
                        .fold((end_ms, f64::MIN), |best, s| if s.1 > best.1 { s } else { best });
                ChartLine {
                    name: series.name.to_owned(),
                    points,
                    average,
                    peak: if samples.is_empty() { 0.0 } else { peak },
                    peak_at: clock(peak_at),
                    last: samples.last().map_or(0.0, |&(_, v)| v),
                }
            })
            .collect();
        LineChart {
            id: id.to_owned(),
            title: title.to_owned(),
            unit,
            y_ticks,
            x_ticks,
            lines,
        }
    }

    fn is_empty(&self) -> bool {
        self.lines.iter().all(|line| line.points.is_empty())
    }
}

/// The value axis for readings up to `highest`: a round step (1, 2 or 5
/// times a power of ten) and the top, at most four steps up.
fn value_axis(highest: f64) -> (f64, f64) {
    if !highest.is_finite() || highest <= 0.0 {
        return (1.0, 4.0);
    }
    let rough = highest / 4.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    (step, step * (highest / step - 1e-9).ceil().max(1.0))
}

/// `HH:MM` (UTC) of an epoch-milliseconds time.
fn clock(at_ms: i64) -> String {
    let minutes = at_ms.rem_euclid(DAY_MS) / 60_000;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `value` written with its unit in the reader's language (`1,5 Mbit/s`,
/// `42 %`).
pub fn written(locale: Locale, unit: ChartUnit, value: f64) -> String {
    let (scaled, prefix) = match unit {
        ChartUnit::BitsPerSecond => [(1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(size, _)| value.abs() >= *size)
            .map_or((value, ""), |(size, prefix)| (value / size, prefix)),
        _ => (value, ""),
    };
    let number = number(locale, scaled);
    let key = match unit {
        ChartUnit::Percent => "chart-percent",
        ChartUnit::BitsPerSecond => "chart-bits-per-second",
        ChartUnit::BlocksPerSecond => "chart-blocks-per-second",
        ChartUnit::Milliseconds => "chart-milliseconds",
    };
    locale.t_with(key, &[("value", number.into()), ("prefix", prefix.into())])
}

/// A number with at most one decimal (none when it is whole or large),
/// with the reader's decimal mark.
fn number(locale: Locale, value: f64) -> String {
    let text = if value.abs() >= 100.0 || (value - value.round()).abs() < 0.05 {
        format!("{}", value.round())
    } else {
        format!("{value:.1}")
    };
    match locale {
        Locale::Fr => text.replace('.', ","),
        Locale::En => text,
    }
}

/// A chart as a figure: the SVG (named and described for screen readers)
/// and its legend.
#[component]
pub fn LineChartFigure(chart: LineChart) -> impl IntoView {
    let locale = use_locale();
    let title = locale.t(&chart.title);
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let unit = chart.unit;
    let empty = chart.is_empty();
    let description = if empty {
        locale.t("chart-no-readings")
    } else {
        chart
            .lines
            .iter()
            .map(|line| {
                locale.t_with(
                    "chart-line-summary",
                    &[
                        ("name", locale.t(&line.name).into()),
                        ("average", written(locale, unit, line.average).into()),
                        ("peak", written(locale, unit, line.peak).into()),
                        ("peak_at", line.peak_at.clone().into()),
                        ("last", written(locale, unit, line.last).into()),
                    ],
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (labelled_by, described_by) = (title_id.clone(), desc_id.clone());
    let view_box = format!("0 0 {WIDTH} {HEIGHT}");
    let grid = chart
        .y_ticks
        .iter()
        .map(|(at, value)| {
            let label = written(locale, unit, *value);
            view! {
                <line class="grid" x1=LEFT x2=WIDTH - RIGHT y1=*at y2=*at/>
                <text class="tick" x=LEFT - 6.0 y=at + 4.0 text-anchor="end">{label}</text>
            }
        })
        .collect_view();
    let times = chart
        .x_ticks
        .iter()
        .map(|(at, label)| {
            view! {
                <line class="grid" x1=*at x2=*at y1=TOP y2=HEIGHT - BOTTOM/>
                <text class="tick" x=*at y=HEIGHT - 6.0 text-anchor="middle">{label.clone()}</text>
            }
        })
        .collect_view();
    let lines = chart
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let class = format!("line series-{}", i + 1);
            view! { <polyline class=class points=line.points.clone()/> }
        })
        .collect_view();
    let legend = chart
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let class = format!("swatch series-{}", i + 1);
            view! { <li><span class=class aria-hidden="true"></span>{locale.t(&line.name)}</li> }
        })
        .collect_view();
    view! {
        <figure class="chart" id=chart.id.clone()>
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=view_box role="img" aria-labelledby=labelled_by aria-describedby=described_by>
                <title id=title_id>{title}</title>
                <desc id=desc_id>{description.clone()}</desc>
                {grid}
                {times}
                {lines}
            </svg>
            {empty.then(|| view! { <p class="muted">{description}</p> })}
            <ul class="legend">{legend}</ul>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_axis_goes_up_in_round_steps_to_just_above_the_highest() {
        let close = |(step, top): (f64, f64), expected: (f64, f64)| {
            assert!(
                (step - expected.0).abs() < 1e-9 * expected.0 && (top - expected.1).abs() < 1e-9 * expected.1,
                "{step}, {top} instead of {expected:?}"
            )
        };
        close(value_axis(55.0), (20.0, 60.0));
        close(value_axis(3_200_000.0), (1_000_000.0, 4_000_000.0));
        close(value_axis(100.0), (50.0, 100.0));
        close(value_axis(0.3), (0.1, 0.3));
        close(value_axis(0.0), (1.0, 4.0));
    }

    #[test]
    fn a_chart_places_its_readings_in_the_last_24_hours_and_says_its_peak() {
        let end = 1_764_000_000_000; // a whole 5 minutes
        let samples = [
            (end - DAY_MS - 1, 99.0),
            (end - DAY_MS, 10.0),
            (end - 3_600_000, 40.0),
            (end, 30.0),
        ];
        let chart = LineChart::of(
            "cpu",
            "linode-graph-cpu",
            ChartUnit::Percent,
            &[Series {
                name: "linode-graph-cpu-line",
                samples: &samples,
            }],
            end,
        );
        let line = &chart.lines[0];
        assert_eq!(
            line.points.split(' ').count(),
            3,
            "the reading older than 24 h is left out"
        );
        assert!(line.points.starts_with(&format!("{LEFT},")), "{}", line.points);
        assert!(line
            .points
            .ends_with(&format!("{},{}", WIDTH - RIGHT, TOP + (HEIGHT - TOP - BOTTOM) * 0.25)));
        assert_eq!((line.peak, line.last, line.average), (40.0, 30.0, 80.0 / 3.0));
        assert_eq!(line.peak_at, clock(end - 3_600_000));
        assert_eq!(
            chart.y_ticks.iter().map(|t| t.1).collect::<Vec<_>>(),
            vec![0.0, 10.0, 20.0, 30.0, 40.0]
        );
        assert_eq!(chart.x_ticks.len(), 4, "every 6 hours");
        assert!(chart.x_ticks.iter().all(|(_, at)| at.ends_with(":00")));
    }

    #[test]
    fn values_are_written_with_their_unit_in_the_readers_language() {
        assert_eq!(written(Locale::Fr, ChartUnit::BitsPerSecond, 1_500_000.0), "1,5 Mbit/s");
        assert_eq!(written(Locale::En, ChartUnit::BitsPerSecond, 1_500_000.0), "1.5 Mbit/s");
        assert_eq!(written(Locale::En, ChartUnit::BitsPerSecond, 512.0), "512 bit/s");
        assert_eq!(written(Locale::Fr, ChartUnit::Percent, 42.0), "42\u{a0}%");
        assert_eq!(written(Locale::En, ChartUnit::Percent, 4.26), "4.3%");
        assert_eq!(written(Locale::Fr, ChartUnit::BlocksPerSecond, 12.0), "12 blocs/s");
    }
}
