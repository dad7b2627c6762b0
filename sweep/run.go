package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/a2qtoolkit/a2q/accum"
	"github.com/a2qtoolkit/a2q/bench"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/fileio"
	"github.com/a2qtoolkit/a2q/hw"
	"github.com/a2qtoolkit/a2q/intinfer"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/ptq"
	"github.com/a2qtoolkit/a2q/quant"
	"github.com/a2qtoolkit/a2q/recipe"
	"github.com/a2qtoolkit/a2q/report"
	"github.com/a2qtoolkit/a2q/train"
)

// Options configure how a sweep runs (not what it computes).
type Options struct {
	// Dir is the sweep directory (required).
	Dir string
	// Parallel is the number of points trained at once (default 1). The
	// Threads are divided among them; Parallel is capped at Threads so the
	// machine is never oversubscribed.
	Parallel int
	// Threads is the total number of threads (default runtime.NumCPU()).
	Threads int
	// Train and Test, when both set, are used instead of opening Grid.Data
	// (tests and callers holding a data set in memory).
	Train, Test *data.Set
	// Progress receives progress lines (and, with one point at a time,
	// training progress bars); nil for none.
	Progress io.Writer
	// InferTime is the minimum measuring time of each plan in a point's
	// integer-inference speed (0: DefaultInferTime).
	InferTime time.Duration
}

// InferBatch is the number of test images per call in a point's
// integer-inference speed, and DefaultInferTime the default
// Options.InferTime.
const (
	InferBatch       = 128
	DefaultInferTime = 500 * time.Millisecond
)

// run is one sweep in progress.
type run struct {
	g           Grid
	o           Options
	train, test *data.Set
	mu          sync.Mutex // serialises Progress
}

func (r *run) logf(format string, args ...any) {
	if r.o.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.o.Progress, format+"\n", args...)
}

// prefixed returns a writer that logs each line written to it as
// "id: line" (nil without Progress).
func (r *run) prefixed(id string) io.Writer {
	if r.o.Progress == nil {
		return nil
	}
	return logWriter{r, id}
}

// logWriter logs the lines written to it, prefixed with id.
type logWriter struct {
	r  *run
	id string
}

func (w logWriter) Write(b []byte) (int, error) {
	for line := range strings.Lines(string(b)) {
		w.r.logf("%s: %s", w.id, strings.TrimSuffix(line, "\n"))
	}
	return len(b), nil
}

// floatDir, pointDir and recipe paths.
func floatDir(dir string) string            { return filepath.Join(dir, "float") }
func pointDir(dir, id string) string        { return filepath.Join(dir, "points", id) }
func resultPath(dir, id string) string      { return filepath.Join(pointDir(dir, id), "result.json") }
func floatResultPath(dir string) string     { return filepath.Join(floatDir(dir), "result.json") }
func recipePath(dir string) string          { return filepath.Join(dir, "sweep.json") }
func floatCheckpointPath(dir string) string { return filepath.Join(floatDir(dir), "model.ckpt") }

// prepare validates the grid, opens the data and records the recipe.
func prepare(g Grid, o Options) (*run, error) {
	g = g.withDefaults()
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("sweep: no output directory")
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	o.Parallel = min(max(o.Parallel, 1), o.Threads)
	r := &run{g: g, o: o, train: o.Train, test: o.Test}
	if r.train == nil || r.test == nil {
		var err error
		if r.train, r.test, err = train.OpenData(g.Model, g.Data, g.Scale, g.Seed); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "points"), 0o755); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if err := checkRecipe(o.Dir, g); err != nil {
		return nil, err
	}
	// Build every point's model once: a P too small for a layer fails here,
	// before any training.
	for _, p := range g.Points() {
		if _, err := r.build(p); err != nil {
			return nil, fmt.Errorf("sweep: point %s: %w", p.ID, err)
		}
	}
	return r, nil
}

// checkRecipe writes DIR/sweep.json, or checks that the one there
// describes the same recipe (the grid lists may differ: a sweep can be
// extended with more points, quantizers and methods). The calibration size
// is compared only when both recipes have post-training points; a recipe
// without them that this run gives some is rewritten to record its size.
func checkRecipe(dir string, g Grid) error {
	path := recipePath(dir)
	write := func(g Grid) error {
		nb, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			return err
		}
		return fileio.WriteAtomic(path, append(nb, '\n'))
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return write(g)
	}
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var old Grid
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("sweep: %s: %w", path, err)
	}
	g.Quants, g.Bits, g.AccBits, g.Methods = nil, nil, nil, nil // not part of the recipe
	record := false
	switch {
	case g.CalibSize == 0: // no post-training point in this run
		g.CalibSize = old.CalibSize
	case old.CalibSize == 0: // none in the directory yet
		record = true
		old.CalibSize = g.CalibSize
	}
	if !reflect.DeepEqual(old, g) {
		ob, _ := json.Marshal(old)
		nb, _ := json.Marshal(g)
		// Directories from before folding and centring were the command's
		// defaults: say which flags extend them; likewise a calibration size.
		hint, aligned := "use another directory", old
		var flags []string
		predates := false
		// A default that refines another (in) counts only where the old
		// recipe had that one: its flag alone extends the directory.
		for _, d := range []struct {
			old, now *bool
			flag     string
			in       bool
		}{
			{&aligned.FoldGain, &g.FoldGain, "--fold-gain=false", true},
			{&aligned.CentreOnData, &g.CentreOnData, "--centre-on-data=false", true},
			{&aligned.FitGain, &g.FitGain, "--fit-gain=false", true},
			{&aligned.L1WhereFolds, &g.L1WhereFolds, "--fit-gain-all", old.FitGain},
			{&aligned.CorrectBias, &g.CorrectBias, "--correct-bias=false", true},
		} {
			if !d.in {
				*d.old = *d.now
				continue
			}
			if !*d.old && *d.now {
				*d.old, predates = true, true
				flags = append(flags, d.flag)
			}
		}
		if old.CalibSize != g.CalibSize {
			aligned.CalibSize = g.CalibSize
			flags = append(flags, fmt.Sprintf("--calib-size %d", old.CalibSize))
		}
		if len(flags) > 0 && reflect.DeepEqual(aligned, g) {
			why := ""
			if predates {
				why = " (its recipe predates them as defaults)"
			}
			hint = "add " + strings.Join(flags, " ") + " to extend it" + why + ", or use another directory"
		}
		return fmt.Errorf("sweep: %s holds another recipe (%s, this run %s); %s", path, ob, nb, hint)
	}
	if record {
		return write(g)
	}
	return nil
}

// config returns the model configuration of a point (AccBits 0: float).
func (r *run) config(mode quant.Mode, bits, accBits int) models.Config {
	s := r.train
	cfg := models.Config{Model: r.g.Model, InC: s.C, InH: s.H, InW: s.W, Classes: s.Classes, Scale: r.g.Scale, Seed: r.g.Seed,
		Hidden: quant.LayerConfig{Mode: mode, WeightBits: bits, ActBits: bits, AccBits: accBits},
		First:  models.DefaultEdge(mode), Last: models.DefaultEdge(mode)}
	if mode == quant.Float {
		cfg.Hidden = quant.LayerConfig{Mode: quant.Float}
	}
	if r.task() == models.SuperResolve {
		cfg.Classes = 0
	} else {
		cfg.Scale = 0
	}
	return cfg
}

func (r *run) task() models.Task {
	t, _ := models.TaskOf(r.g.Model)
	return t
}

// build returns a point's model. The baseline's hidden layers get their
// data-type P as their target.
func (r *run) build(p Point) (*models.Model, error) {
	acc := p.AccBits
	if p.Quant == quant.Baseline {
		acc = 32
	}
	m, err := models.Build(r.config(p.Quant, p.WeightBits, acc))
	if err != nil || p.Quant != quant.Baseline {
		return m, err
	}
	dt := 0
	for i, l := range m.Layers {
		if m.Hidden(i) && l.W != nil {
			dt = max(dt, accum.DataTypeBits(l.K(), l.In.Bits, l.In.Signed, l.W.Bits))
		}
	}
	if dt == 0 || dt == acc {
		return m, nil
	}
	return models.Build(r.config(p.Quant, p.WeightBits, dt))
}

// floatResult is DIR/float/result.json.
type floatResult struct {
	Score   float64 `json:"score"`
	Epochs  int     `json:"epochs"`
	Seconds float64 `json:"seconds"`
}

// trainFloat trains (or resumes, or reuses) the float model and returns
// its score.
func (r *run) trainFloat(ctx context.Context, threads int) (float64, error) {
	if b, err := os.ReadFile(floatResultPath(r.o.Dir)); err == nil {
		var fr floatResult
		if err := json.Unmarshal(b, &fr); err != nil {
			return 0, fmt.Errorf("sweep: %s: %w", floatResultPath(r.o.Dir), err)
		}
		if fr.Epochs == r.g.FloatEpochs {
			return fr.Score, nil
		}
	}
	start := time.Now()
	r.logf("float: training %d epochs", r.g.FloatEpochs)
	res, err := recipe.Run(ctx, recipe.Options{Config: r.config(quant.Float, 0, 0), Train: r.train, Test: r.test,
		Epochs: r.g.FloatEpochs, Batch: r.g.Batch, LR: r.g.LR, Threads: threads, Dir: floatDir(r.o.Dir),
		KeepOutputBias: !r.g.CorrectBias, Progress: r.o.Progress, Log: r.prefixed("float")})
	if err != nil {
		return 0, fmt.Errorf("sweep: float model: %w", err)
	}
	score := res.Score
	b, _ := json.MarshalIndent(floatResult{Score: score, Epochs: r.g.FloatEpochs, Seconds: time.Since(start).Seconds()}, "", "  ")
	if err := fileio.WriteAtomic(floatResultPath(r.o.Dir), append(b, '\n')); err != nil {
		return 0, err
	}
	r.logf("float: %s %.4f", train.ScoreName(r.task()), score)
	return score, nil
}

// loadResult reads a finished point's result, or reports false.
func loadResult(dir, id string) (Result, bool, error) {
	path := resultPath(dir, id)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("sweep: %w", err)
	}
	res, err := decodeResult(b, path)
	return res, err == nil, err
}

// runPoint fine-tunes (QAT) or quantizes (post-training methods) one point
// from the float model, unless its result file exists.
func (r *run) runPoint(ctx context.Context, p Point, floatScore float64, threads int, bars bool) (Result, error) {
	if res, ok, err := loadResult(r.o.Dir, p.ID); ok || err != nil {
		if ok {
			r.logf("%s: done already, skipped", p.ID)
		}
		return res, err
	}
	start := time.Now()
	m, err := r.build(p)
	if err != nil {
		return Result{}, fmt.Errorf("sweep: point %s: %w", p.ID, err)
	}
	fc, err := checkpoint.Load(floatCheckpointPath(r.o.Dir))
	if err != nil {
		return Result{}, fmt.Errorf("sweep: point %s: %w", p.ID, err)
	}
	var score float64
	if p.Method.PostTraining() {
		m, score, err = r.quantize(ctx, p, m.Config, fc, threads)
	} else {
		m, score, err = r.fineTune(ctx, p, m.Config, fc, threads, bars)
	}
	if err != nil {
		return Result{}, fmt.Errorf("sweep: point %s: %w", p.ID, err)
	}
	res, err := Measure(m, score, floatScore)
	if err != nil {
		return Result{}, fmt.Errorf("sweep: point %s: %w", p.ID, err)
	}
	if res.InferImagesPerSec, res.InferSpeedupVsDense, err = r.inferSpeed(ctx, p, m); err != nil {
		return Result{}, fmt.Errorf("sweep: point %s: %w", p.ID, err)
	}
	res.ID, res.Method, res.Data = p.ID, string(p.Method), r.g.Data
	if p.Method.PostTraining() {
		res.CalibSize = r.calibSize()
	} else {
		res.Epochs = r.g.epochs(p.Quant)
	}
	if res.Data == "" {
		res.Data = r.train.Name
	}
	res.Seconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return Result{}, err
	}
	if err := fileio.WriteAtomic(resultPath(r.o.Dir, p.ID), append(b, '\n')); err != nil {
		return Result{}, err
	}
	speed := ""
	if res.InferImagesPerSec != nil {
		speed = fmt.Sprintf(", %.0f images/s as integers (%.2f× dense)", *res.InferImagesPerSec, *res.InferSpeedupVsDense)
	}
	r.logf("%s: %s %.4f (%.1f%% of float), certified P %d, sparsity %.3f, %.0f LUTs (%.0f at P = 32)%s, %.0f s",
		p.ID, train.ScoreName(m.Task), score, 100*res.ShareOfFloat, res.CertifiedAccBits, res.Sparsity, res.LUTEstimate, res.LUTEstimateP32, speed, res.Seconds)
	return res, nil
}

// inferSpeed times integer inference of a point's model m on the test
// images (Result.InferImagesPerSec) and returns its rate and its ratio to
// the dense plan's, or nils, logged, when m has no integer form or the
// test images are not its input.
func (r *run) inferSpeed(ctx context.Context, p Point, m *models.Model) (rate, speedup *float64, err error) {
	x, n, err := bench.Images(r.test, InferBatch, m.Config)
	if err != nil {
		r.logf("%s: inference speed not measured: %v", p.ID, err)
		return nil, nil, nil
	}
	im, err := intinfer.FromModel(m)
	if err != nil {
		r.logf("%s: inference speed not measured: %v", p.ID, err)
		return nil, nil, nil
	}
	t := r.o.InferTime
	if t <= 0 {
		t = DefaultInferTime
	}
	sp, err := bench.InferSpeed(ctx, im, x, n, bench.SpeedOptions{
		Plans:   []intinfer.Options{{Path: intinfer.PathPreferred}, {Path: intinfer.PathDense}},
		Threads: 1, MinTime: t})
	if err != nil {
		return nil, nil, err
	}
	chosen, ratio := sp.ImagesPerSec[0], sp.ImagesPerSec[0]/sp.ImagesPerSec[1]
	return &chosen, &ratio, nil
}

// fineTune runs a QAT point: cfg fine-tuned from the float checkpoint fc
// (resuming from the point's checkpoint). It returns the model and its
// test score.
func (r *run) fineTune(ctx context.Context, p Point, cfg models.Config, fc *checkpoint.Checkpoint, threads int, bars bool) (*models.Model, float64, error) {
	var prog io.Writer
	if bars {
		prog = r.o.Progress
	}
	epochs := r.g.epochs(p.Quant)
	r.logf("%s: fine-tuning %d epochs", p.ID, epochs)
	rr, err := recipe.Run(ctx, recipe.Options{Config: cfg, InitFrom: fc, FoldGain: r.g.FoldGain, CentreOnData: r.g.CentreOnData, FitGain: r.g.FitGain, L1WhereFolds: r.g.L1WhereFolds,
		Train: r.train, Test: r.test, Epochs: epochs, Batch: r.g.Batch, LR: r.g.FineTuneLR, Threads: threads,
		KeepOutputBias: !r.g.CorrectBias, Dir: pointDir(r.o.Dir, p.ID), Progress: prog, Log: r.prefixed(p.ID)})
	if err != nil {
		return nil, 0, err
	}
	return rr.Model, rr.Score, nil
}

// calibSize is the number of calibration examples recipe.Quantize takes
// from the training split (all of it if it is smaller than Grid.CalibSize).
func (r *run) calibSize() int { return min(r.g.CalibSize, r.train.N) }

// quantize runs a post-training point: the float checkpoint fc quantized
// with recipe.Quantize at cfg's layer configurations, calibrated on the
// training split. It returns the model and its test score, computed as
// recipe.Run computes a QAT point's.
func (r *run) quantize(ctx context.Context, p Point, cfg models.Config, fc *checkpoint.Checkpoint, threads int) (*models.Model, float64, error) {
	r.logf("%s: %s on %d calibration examples", p.ID, p.Method, r.calibSize())
	// No Test: the sweep has the float model's score already; the point's
	// is train.Evaluate's, as for QAT points.
	qr, err := recipe.Quantize(ctx, recipe.PTQOptions{Float: fc, Hidden: cfg.Hidden, First: cfg.First, Last: cfg.Last,
		Method: ptq.Method(p.Method), Calib: r.train, CalibSize: r.g.CalibSize, Threads: threads,
		Dir: pointDir(r.o.Dir, p.ID), Log: r.prefixed(p.ID)})
	if err != nil {
		return nil, 0, err
	}
	score, err := train.Evaluate(ctx, qr.Model, r.test, threads)
	if err != nil {
		return nil, 0, err
	}
	return qr.Model, score, nil
}

// Measure computes a quantized model's Result fields from its weights: the
// certificates, certified P, sparsity, compression rate and LUT
// estimates, with score and the float model's score. ID, Method, Data,
// Epochs, CalibSize and Seconds are left for the caller.
func Measure(m *models.Model, score, floatScore float64) (Result, error) {
	rep, err := report.FromModel(m, 0)
	if err != nil {
		return Result{}, err
	}
	h := m.Config.Hidden
	res := Result{Model: m.Config.Model, Quant: string(h.Mode), WeightBits: h.WeightBits, ActBits: h.ActBits, AccBits: h.AccBits,
		FloatScore: floatScore, Sparsity: rep.Sparsity, CompressionRate: rep.CompressionRate, Warnings: rep.Warnings}
	if floatScore != 0 {
		res.ShareOfFloat = score / floatScore
	}
	if m.Task == models.SuperResolve {
		res.TestPSNR = &score
	} else {
		res.TestAccuracy = &score
	}
	// rep.Layers holds one certificate per quantized layer, in order.
	ci := 0
	for i, l := range m.Layers {
		if l.W == nil {
			continue
		}
		if ci >= len(rep.Layers) {
			return Result{}, fmt.Errorf("layer %s has no certificate", l.Name)
		}
		if m.Hidden(i) {
			res.CertifiedAccBits = max(res.CertifiedAccBits, rep.Layers[ci].NeededBits())
		}
		ci++
	}
	res.Certified = res.CertifiedAccBits > 0 && res.CertifiedAccBits <= res.AccBits
	// The LUT totals are a2q hw's, with its default folding.
	cost, err := hw.EstimateModel(m, hw.DefaultPECap, hw.DefaultSIMDCap)
	if err != nil {
		return Result{}, err
	}
	res.LUTEstimate, res.LUTEstimateP32 = cost.TotalLUTEstimate, cost.TotalLUTEstimateP32
	return res, nil
}

// Run trains the float model, then every point of g not yet done (o.Parallel
// at a time), and writes results.json, results.csv and the plots. It
// returns the results of g's points in canonical order. On error (or
// cancellation) finished points keep their result files and a new Run
// resumes. Run holds the lock of o.Dir (fileio.Lock) while it runs:
// another Run on it fails with a *fileio.LockedError.
func Run(ctx context.Context, g Grid, o Options) ([]Result, error) {
	if o.Dir != "" {
		unlock, err := fileio.Lock(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("sweep: %w", err)
		}
		defer unlock()
		fileio.RemoveOrphans(o.Dir)
	}
	r, err := prepare(g, o)
	if err != nil {
		return nil, err
	}
	floatScore, err := r.trainFloat(ctx, r.o.Threads)
	if err != nil {
		return nil, err
	}
	points := r.g.Points()
	results := make([]Result, len(points))
	threads := max(r.o.Threads/r.o.Parallel, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < r.o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res, err := r.runPoint(ctx, points[i], floatScore, threads, r.o.Parallel == 1)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					cancel()
					continue
				}
				results[i] = res
			}
		}()
	}
	for i := range points {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sortResults(results)
	if err := WriteResults(r.o.Dir, results); err != nil {
		return nil, err
	}
	if err := WritePlots(r.o.Dir, results); err != nil {
		return nil, err
	}
	return results, nil
}

// RunPoint runs one point of g into o.Dir, for a sweep distributed over
// processes or machines sharing the directory: id FloatID trains the float
// model, any other ID fine-tunes or quantizes that point from it. The float model must
// be finished first (otherwise every point would train its own, and the
// points would not share one starting model): RunPoint returns an error
// saying so. It writes no results table; Merge does.
func RunPoint(ctx context.Context, g Grid, o Options, id string) (*Result, error) {
	var p Point
	if id != FloatID {
		var ok bool
		if p, ok = g.withDefaults().Find(id); !ok {
			return nil, fmt.Errorf("sweep: no point %q in the grid", id)
		}
	}
	r, err := prepare(g, o)
	if err != nil {
		return nil, err
	}
	if id != FloatID {
		if _, err := os.Stat(floatResultPath(r.o.Dir)); err != nil {
			return nil, fmt.Errorf("sweep: point %s: the float model in %s is not trained yet; run point %q first", id, floatDir(r.o.Dir), FloatID)
		}
	}
	floatScore, err := r.trainFloat(ctx, r.o.Threads)
	if err != nil || id == FloatID {
		return nil, err
	}
	res, err := r.runPoint(ctx, p, floatScore, r.o.Threads, true)
	if err != nil {
		return nil, err
	}
	return &res, nil
}
