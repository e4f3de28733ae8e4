/// <reference lib="dom" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './lib';

/** A colour-blind-safe palette (Okabe–Ito) with enough contrast on white. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#8C564B'];

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  /** Thicker line (an aggregate). */
  strong?: boolean;
  dash?: boolean;
}

/**
 * A time chart (uPlot) that follows its container's width, with a text summary for screen readers:
 * `times` in ms since epoch; `format` turns a value into readable text for the axis and legend.
 */
export function TimeChart(props: { title: string; times: number[]; series: ChartSeries[]; format: (v: number) => string; height?: number; yLabel?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const { times, series, format, height = 260 } = props;
  useEffect(() => {
    const el = box.current;
    if (!el || times.length === 0) return;
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      // times in UTC and 24-hour clock, as everywhere else in the console
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      fmtDate: (tpl) => uPlot.fmtDate(tpl.replace('{h}:{mm}:{ss}{aa}', '{HH}:{mm}:{ss}').replace('{h}:{mm}{aa}', '{HH}:{mm}').replace('{h}{aa}', '{HH}:00').replace('{M}/{D}/{YY}', '{YYYY}-{MM}-{DD}').replace('{M}/{D}', '{MM}-{DD}')),
      axes: [
        { stroke: '#333', grid: { stroke: '#e5e5e5' } },
        { stroke: '#333', grid: { stroke: '#e5e5e5' }, size: 80, values: (_u, splits) => splits.map((v) => format(v)), ...(props.yLabel ? { label: props.yLabel } : {}) },
      ],
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ')) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.strong ? '#000000' : PALETTE[i % PALETTE.length],
          width: s.strong ? 3 : 1.5,
          ...(s.dash ? { dash: [6, 4] } : {}),
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : format(v)),
        })),
      ],
    };
    const data = [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData;
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [times, series, height]);
  const summary = series
    .map((s) => {
      const vals = s.values.filter((v): v is number => v !== null && Number.isFinite(v));
      return vals.length ? `${s.label}: latest ${format(vals[vals.length - 1]!)}, highest ${format(Math.max(...vals))}` : `${s.label}: no values`;
    })
    .join('; ');
  return html`<figure class="chart">
    <figcaption>${props.title}</figcaption>
    ${times.length === 0 ? html`<p class="empty">No data in this window.</p>` : html`<div ref=${box} class="chart-box" role="img" aria-label=${`${props.title}. ${summary}`}></div>`}
  </figure>`;
}
