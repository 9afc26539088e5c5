// Package report turns the benchmark's measurements into what people read: the
// Markdown of docs/benchmarks.md, the plain-text table printed at the end of a run,
// and the PNG chart (gonum/plot) of throughput and p99 latency per scenario against
// each scenario's baseline.
//
// The report states every target of the performance issue next to what was
// measured, met or missed and by how much; a figure that was not measured says so
// rather than showing a zero.
package report
