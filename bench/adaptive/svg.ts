/**
 * Hand-written SVG charts for the adaptive simulation: three panels over the same time axis —
 * the window (and write concurrency), each batch's size, and each commit's oldest-record latency —
 * for adaptive and, as a reference, the fixed 15 s window. No chart library: lines, ticks, labels.
 */
import type { Point } from './simulate.js';

export interface ChartSeries {
  label: string;
  color: string;
  points: Point[];
  /** A step function (hold each value until the next point) rather than a polyline. */
  step?: boolean;
  dashed?: boolean;
  /** Draw dots instead of a line (batch sizes: one per batch). */
  dots?: boolean;
}

export interface Panel {
  title: string;
  unit: string;
  log?: boolean;
  series: ChartSeries[];
}

const W = 760;
const PANEL_H = 150;
const LEFT = 70;
const RIGHT = 20;
const TOP = 62;
const GAP = 64;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) =>
  n >= 1000 ? `${Number((n / 1000).toPrecision(3))}k` : String(Number(n.toPrecision(3)));

/** Renders `panels` stacked over a shared time axis from 0 to `endMs`. */
export function chart(title: string, endMs: number, panels: Panel[]): string {
  const height = TOP + panels.length * (PANEL_H + GAP) + 10;
  const plotW = W - LEFT - RIGHT;
  const x = (t: number) => LEFT + (Math.min(t, endMs) / endMs) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  const minutes = endMs / 60_000;
  const stepMin = minutes <= 10 ? 1 : minutes <= 30 ? 5 : 10;
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_H + GAP);
    const bottom = top + PANEL_H;
    const values = panel.series.flatMap((s) => s.points.map((p) => p.v)).filter((v) => v > 0);
    const max = Math.max(1, ...values);
    let y: (v: number) => number;
    let ticks: number[];
    if (panel.log) {
      const lo = Math.floor(Math.log10(Math.max(1e-9, Math.min(...values, max))));
      const hi = Math.ceil(Math.log10(max));
      const span = Math.max(1, hi - lo);
      y = (v) => bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / span) * PANEL_H;
      ticks = Array.from({ length: span + 1 }, (_, k) => 10 ** (lo + k));
    } else {
      const magnitude = 10 ** Math.floor(Math.log10(max));
      const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => max / s <= 5)!;
      const top2 = Math.ceil(max / step) * step;
      y = (v) => bottom - (v / top2) * PANEL_H;
      ticks = Array.from({ length: Math.round(top2 / step) + 1 }, (_, k) => k * step);
    }
    out.push(`<text x="${LEFT}" y="${top - 24}" font-weight="bold">${esc(panel.title)}</text>`);
    for (const tick of ticks) {
      const ty = y(tick).toFixed(1);
      out.push(
        `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${ty}" y2="${ty}" stroke="#e5e5e5"/>`,
        `<text x="${LEFT - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${fmt(tick)}</text>`,
      );
    }
    for (let m = 0; m <= minutes + 1e-9; m += stepMin) {
      const tx = x(m * 60_000).toFixed(1);
      out.push(
        `<line x1="${tx}" x2="${tx}" y1="${bottom}" y2="${bottom + 4}" stroke="#333"/>`,
        `<text x="${tx}" y="${bottom + 15}" text-anchor="middle">${m}</text>`,
      );
    }
    out.push(
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
      `<line x1="${LEFT}" x2="${LEFT}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
      `<text x="${LEFT - 50}" y="${top + PANEL_H / 2}" text-anchor="middle" transform="rotate(-90 ${LEFT - 50} ${top + PANEL_H / 2})">${esc(panel.unit)}</text>`,
      `<text x="${W - RIGHT}" y="${bottom + 28}" text-anchor="end">simulated time (min)</text>`,
    );
    let legendX = LEFT;
    for (const s of panel.series) {
      out.push(drawSeries(s, x, y, endMs));
      out.push(
        `<line x1="${legendX}" x2="${legendX + 18}" y1="${top - 10}" y2="${top - 10}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
        `<text x="${legendX + 22}" y="${top - 6}">${esc(s.label)}</text>`,
      );
      legendX += 34 + s.label.length * 6;
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function drawSeries(s: ChartSeries, x: (t: number) => number, y: (v: number) => number, endMs: number) {
  const pts = s.points;
  if (pts.length === 0) return '';
  if (s.dots) {
    return pts
      .map((p) => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="1.6" fill="${s.color}"/>`)
      .join('\n');
  }
  const coords: string[] = [];
  pts.forEach((p, i) => {
    if (s.step && i > 0) coords.push(`${x(p.t).toFixed(1)},${y(pts[i - 1]!.v).toFixed(1)}`);
    coords.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
  });
  if (s.step) coords.push(`${x(endMs).toFixed(1)},${y(pts.at(-1)!.v).toFixed(1)}`);
  return `<polyline fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${coords.join(' ')}"/>`;
}
