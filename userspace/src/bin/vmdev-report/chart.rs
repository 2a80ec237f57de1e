//! bench/chart.svg: median ns per page of the driver's nodes and the peers, metric by metric.

use std::path::Path;

use plotters::prelude::*;

use crate::data::Results;
use crate::markdown::SOURCES;

/// The groups of bars: metric and its label under the axis.
const GROUPS: [(&str, &str); 8] = [
    ("mmap_munmap", "mmap + munmap"),
    ("first_read_seq", "first read, in order"),
    ("first_write_seq", "first write, in order"),
    ("first_read_rand", "first read, random"),
    ("map_read_unmap", "mmap + first read + munmap"),
    ("stream_mapping", "streaming, warm"),
    ("setup_whole", "64 MiB: build the mapping"),
    ("first_read_whole", "64 MiB: first read"),
];

const COLORS: [RGBColor; 9] = [
    RGBColor(222, 95, 40),   // fault node
    RGBColor(240, 160, 60),  // remap node
    RGBColor(160, 40, 30),   // huge node
    RGBColor(200, 60, 130),  // folio node
    RGBColor(60, 110, 180),  // udmabuf
    RGBColor(120, 170, 220), // system heap
    RGBColor(110, 80, 170),  // /dev/mem
    RGBColor(130, 130, 130), // anonymous
    RGBColor(90, 170, 90),   // tmpfs
];

pub fn chart(r: &Results, path: &Path) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let values = || {
        GROUPS
            .iter()
            .flat_map(|(m, _)| SOURCES.iter().filter_map(|(l, _)| r.get(m, l)))
            .map(|s| s.median)
            .filter(|v| *v > 0.0)
    };
    let top = values().fold(1.0, f64::max) * 3.0;
    let bottom = values().fold(f64::MAX, f64::min).max(0.01) / 2.0;
    let n = GROUPS.len();
    let root = SVGBackend::new(path, (1500, 680)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    // Group i is centred on x = i, so the mesh's integer labels fall under their group.
    let mut ch = ChartBuilder::on(&root)
        .caption(
            "rust_vmdev and the kernel's peers: median ns per 4 KiB page, log scale (QEMU TCG, -icount: read ratios)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (bottom..top).log_scale())
        .map_err(err)?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            GROUPS
                .get(i as usize)
                .map_or(String::new(), |g| g.1.to_string())
        })
        .x_label_style(("sans-serif", 12))
        .y_desc("ns per page")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    let width = 0.84 / SOURCES.len() as f64;
    for (k, ((label, name), color)) in SOURCES.iter().zip(COLORS).enumerate() {
        let bars = GROUPS.iter().enumerate().filter_map(|(i, (m, _))| {
            let s = r.get(m, label)?;
            let x0 = i as f64 - 0.42 + k as f64 * width;
            Some(Rectangle::new(
                [(x0, bottom), (x0 + width * 0.9, s.median.max(bottom))],
                color.filled(),
            ))
        });
        ch.draw_series(bars)
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
