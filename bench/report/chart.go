package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ErrNoData: there is nothing to chart.
var ErrNoData = errors.New("report: no scenarios to chart")

var (
	baselineColor = color.RGBA{R: 0x9e, G: 0x9e, B: 0x9e, A: 0xff}
	subjectColor  = color.RGBA{R: 0x1f, G: 0x6f, B: 0xb4, A: 0xff}
)

// WriteChart draws two panels side by side, requests/s and p99 latency, with a pair
// of bars per scenario (its baseline's median and its own), the ratio printed over
// the scenario's throughput bar, and writes the PNG to w.
func (r *Report) WriteChart(w io.Writer) error {
	if len(r.Scenarios) == 0 {
		return ErrNoData
	}
	names := make([]string, len(r.Scenarios))
	var rps, baseRPS, p99, baseP99 plotter.Values
	for i, s := range r.Scenarios {
		names[i] = s.Name
		rps = append(rps, zeroNaN(s.RPS()))
		baseRPS = append(baseRPS, zeroNaN(s.BaseRPS()))
		p99 = append(p99, ms(s.Lat().P99))
		baseP99 = append(baseP99, ms(s.BaseLat().P99))
	}
	left, err := barPanel("Throughput (median of rounds)", "requests/s", names, baseRPS, rps)
	if err != nil {
		return err
	}
	labels := make([]string, len(r.Scenarios))
	var xys plotter.XYs
	for i, s := range r.Scenarios {
		labels[i] = "×" + fmtRatio(s.Ratio())
		xys = append(xys, plotter.XY{X: float64(i), Y: rps[i]})
	}
	lab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return err
	}
	lab.Offset = vg.Point{X: 0, Y: vg.Points(3)}
	for i := range lab.TextStyle {
		lab.TextStyle[i].Font.Size = vg.Points(9)
	}
	left.Add(lab)
	left.Y.Max *= 1.3 // room for the ratio labels and the legend

	right, err := barPanel("p99 latency (median of rounds)", "milliseconds", names, baseP99, p99)
	if err != nil {
		return err
	}
	msLabels := make([]string, len(p99))
	xys = xys[:0]
	for i, v := range p99 {
		msLabels[i] = shortMS(v)
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
	}
	mlab, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: msLabels})
	if err != nil {
		return err
	}
	mlab.Offset = vg.Point{X: 0, Y: vg.Points(3)}
	for i := range mlab.TextStyle {
		mlab.TextStyle[i].Font.Size = vg.Points(9)
	}
	right.Add(mlab)
	right.Y.Max *= 1.3

	const width, height = 27 * vg.Centimeter, 20 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Centimeter / 2, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	plots := [][]*plot.Plot{{left}, {right}}
	canvases := plot.Align(plots, tiles, dc)
	left.Draw(canvases[0][0])
	right.Draw(canvases[1][0])
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("report: write chart: %w", err)
	}
	return nil
}

func barPanel(title, ylabel string, names []string, base, subject plotter.Values) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	bw := vg.Points(16)
	bb, err := plotter.NewBarChart(base, bw)
	if err != nil {
		return nil, err
	}
	bb.Color, bb.LineStyle.Width, bb.Offset = baselineColor, 0, -bw/2
	sb, err := plotter.NewBarChart(subject, bw)
	if err != nil {
		return nil, err
	}
	sb.Color, sb.LineStyle.Width, sb.Offset = subjectColor, 0, bw/2
	p.Add(plotter.NewGrid(), bb, sb)
	p.Legend.Add("baseline", bb)
	p.Legend.Add("scenario", sb)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Millimeter * 2
	p.NominalX(names...)
	// Many scenarios, some with long names: slanted labels do not run into each other.
	p.X.Tick.Label.Rotation = math.Pi / 7
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	p.Y.Tick.Marker = shortTicks{}
	return p, nil
}

// shortTicks are plot.DefaultTicks labelled "75k" or "1.5" rather than "75000.00".
type shortTicks struct{}

func (shortTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label == "" {
			continue
		}
		v := ts[i].Value
		if math.Abs(v) >= 1000 {
			ts[i].Label = strconv.FormatFloat(v/1000, 'g', 4, 64) + "k"
		} else {
			ts[i].Label = strconv.FormatFloat(v, 'g', 4, 64)
		}
	}
	return ts
}

func zeroNaN(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// shortMS prints a latency in milliseconds with two or three significant figures
// and no exponent.
func shortMS(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
