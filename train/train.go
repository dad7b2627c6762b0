// Package train runs a2q's training loop: mini-batches from package data,
// forward and backward passes on an autodiff tape, Adam updates (the
// layers that read the image stepped as if it were standardised, see
// Options.RawInput), the A2Q penalty, evaluation, progress on stderr, and
// checkpoints written atomically after every epoch so that an
// interrupted run resumes where it stopped.
//
// A NaN or infinite loss, or a loss that diverges (ErrDiverged: far above
// where it started, or above chance level, for most of a window of steps;
// see DivergenceFactor), stops training with an error naming the epoch
// and step; the last good checkpoint stays on disk.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/schollz/progressbar/v3"

	"github.com/a2qtoolkit/a2q/autodiff"
	"github.com/a2qtoolkit/a2q/checkpoint"
	"github.com/a2qtoolkit/a2q/data"
	"github.com/a2qtoolkit/a2q/metrics"
	"github.com/a2qtoolkit/a2q/models"
	"github.com/a2qtoolkit/a2q/nn"
	"github.com/a2qtoolkit/a2q/optim"
	"github.com/a2qtoolkit/a2q/tensor"
)

// Options configure a training run.
type Options struct {
	Epochs      int
	Batch       int
	LR          float64 // peak learning rate (see Schedule)
	WeightDecay float64 // decoupled (AdamW); never applied to biases, norms, g, s
	Threads     int
	Seed        uint64
	// Dir receives model.ckpt after every epoch (and, with Epochs 0, the
	// model as it stands when Run returns); empty for none. If
	// Dir/model.ckpt exists for the same configuration, training resumes.
	Dir string
	// Progress receives a progress bar (stderr in the command); nil for none.
	Progress io.Writer
	// Augment is applied to training examples (random crops with padding,
	// horizontal flips); the zero value applies none.
	Augment data.Augment
	// Schedule is the learning-rate schedule; the zero value is
	// DefaultSchedule.
	Schedule Schedule
	// RawInput makes the optimizer update the layers that read a
	// classifier's input in their own coordinates. By default it steps
	// them in the coordinates of the same network fed standardised inputs
	// (each channel's training mean and std, InputStats): the model still
	// reads [0, 1] pixels, so that quantized and integer models take 8-bit
	// pixels exactly, but Adam's steps on those layers are the ones it
	// would take on the standardised network. Image-to-image models
	// (super-resolution), whose output carries the input's intensities,
	// always train in their own coordinates. A resumed run keeps the
	// choice its checkpoint was trained with.
	RawInput bool
	// FreshWeights says the model holds the weights models.Build drew,
	// not trained ones. A run that starts afresh in standardised
	// coordinates then takes the input layers' weights as drawn for
	// standardised inputs, as PyTorch's initialisation draws them for a
	// network fed standardised pixels, and folds them into weights that
	// read [0, 1] pixels (w = v/σ, b = c − Σ μ·v/σ).
	FreshWeights bool
	// Average, when positive, makes the model a run leaves behind the
	// mean of its parameters at the ends of the last Average epochs
	// (stochastic weight averaging) instead of the last epoch's: the
	// quantizers apply to the mean as to any weights, so the averaged
	// model keeps every budget. Batch-norm statistics are then recomputed
	// for the mean over the training set. The last epoch's test score and
	// checkpoint are the averaged model's.
	Average int
	// KeepOutputBias turns off the correction an image-to-image model
	// (super-resolution) gets after its last epoch: its output layer's bias
	// moved by the mean residual of each output channel over the first
	// BiasExamples training examples (models.Model.CorrectOutputBias),
	// kept when it lowers their mean squared error. The last epoch's test
	// score and checkpoint are the corrected model's.
	KeepOutputBias bool
}

// History is the per-epoch record kept in checkpoints.
type History struct {
	Epoch     int      `json:"epoch"`
	TrainLoss float64  `json:"train_loss"`
	TestScore *float64 `json:"test_score"` // accuracy or PSNR; null without a test set
}

// State is the training state stored in a checkpoint's metadata.
type State struct {
	Epoch   int       `json:"epoch"` // completed epochs
	Epochs  int       `json:"epochs"`
	Step    int       `json:"step"`
	Seed    uint64    `json:"seed"`
	History []History `json:"history"`
	// StartLoss is the loss of the run's first step, before any update,
	// and ChanceLoss the loss at chance level on its batch: the reference
	// of the divergence rule (0: not yet known).
	StartLoss  float64 `json:"start_loss,omitempty"`
	ChanceLoss float64 `json:"chance_loss,omitempty"`
	// InputMean and InputStd are the per-channel input statistics whose
	// coordinates the optimizer steps the input layers in (see
	// Options.RawInput); nil when it steps them as they are.
	InputMean []float64 `json:"input_mean,omitempty"`
	InputStd  []float64 `json:"input_std,omitempty"`
	// Averaged is the number of epochs whose end parameters the
	// checkpoint's running sums (tensors "average.NAME") hold, from epoch
	// AverageFrom (0-based) on; see Options.Average.
	Averaged    int `json:"averaged,omitempty"`
	AverageFrom int `json:"average_from,omitempty"`
}

// Schedule names a learning-rate schedule.
type Schedule string

// Learning-rate schedules.
const (
	// ScheduleConstant keeps the learning rate at Options.LR.
	ScheduleConstant Schedule = "constant"
	// ScheduleCosine anneals it from Options.LR to LR/100 over the run.
	ScheduleCosine Schedule = "cosine"
	// ScheduleFlatCosine keeps Options.LR for the first FlatFraction of
	// the run, then anneals it to LR/100 along a cosine.
	ScheduleFlatCosine Schedule = "flat-cosine"
)

// FlatFraction is the share of a run ScheduleFlatCosine keeps the peak
// learning rate.
const FlatFraction = 0.75

// DefaultSchedule is the schedule of Options with none set.
const DefaultSchedule = ScheduleFlatCosine

// ParseSchedule returns the schedule named s.
func ParseSchedule(s string) (Schedule, bool) {
	switch Schedule(s) {
	case ScheduleConstant, ScheduleCosine, ScheduleFlatCosine:
		return Schedule(s), true
	}
	return "", false
}

// rate returns the learning rate of schedule s over a run of epochs
// epochs at peak lr.
func (s Schedule) rate(lr float64, epochs int) optim.Schedule {
	switch s {
	case ScheduleConstant:
		return optim.Constant(lr)
	case ScheduleFlatCosine:
		return optim.FlatCosine(lr, lr/100, float64(epochs), FlatFraction*float64(epochs))
	}
	return optim.Cosine(lr, lr/100, float64(epochs), 0)
}

// ErrNonFinite is returned (wrapped) when the loss becomes NaN or infinite.
var ErrNonFinite = errors.New("loss is not finite")

// Trainer trains one model.
type Trainer struct {
	Model *models.Model
	Opt   *optim.Adam
	State State
	o     Options
	tape  *autodiff.Tape
	std   *standardised // nil: the optimizer steps every parameter as it is
	sums  [][]float32   // running sums of the parameters (Options.Average), by Model.Params index
}

// New prepares a trainer. If o.Dir holds a checkpoint of the same model
// configuration, its parameters, optimizer state and epoch are restored.
func New(m *models.Model, o Options) (*Trainer, error) {
	if o.Epochs < 0 || o.Batch < 1 || !(o.LR > 0) {
		return nil, fmt.Errorf("train: need epochs >= 0, batch >= 1 and a positive learning rate (got %d, %d, %g)", o.Epochs, o.Batch, o.LR)
	}
	if o.Average < 0 || o.Average > o.Epochs {
		return nil, fmt.Errorf("train: averaging the weights of the last %d epochs of %d: want 0 (none) to %d", o.Average, o.Epochs, o.Epochs)
	}
	if o.Schedule == "" {
		o.Schedule = DefaultSchedule
	}
	if _, ok := ParseSchedule(string(o.Schedule)); !ok {
		return nil, fmt.Errorf("train: unknown learning-rate schedule %q (want %s, %s or %s)", o.Schedule, ScheduleConstant, ScheduleCosine, ScheduleFlatCosine)
	}
	o.Threads = max(o.Threads, 1)
	t := &Trainer{Model: m, o: o, State: State{Epochs: o.Epochs, Seed: o.Seed}, tape: autodiff.NewTape(o.Threads)}
	if err := t.setOptimizer(); err != nil {
		return nil, err
	}
	if o.Dir != "" {
		if err := t.resume(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// setOptimizer makes a fresh Adam over the model's parameters, stepping
// the input layers in the coordinates State.InputMean and InputStd set.
func (t *Trainer) setOptimizer() error {
	ps := t.Model.Params()
	t.std = nil
	if t.State.InputStd != nil {
		s, err := newStandardised(t.Model, t.State.InputMean, t.State.InputStd)
		if err != nil {
			return fmt.Errorf("train: standardised input coordinates: %w", err)
		}
		if s != nil {
			t.std, ps = s, s.params(ps)
		}
	}
	t.Opt = optim.NewAdam(ps, t.o.WeightDecay, true)
	return nil
}

// standardise sets the input statistics of a run that starts afresh
// (see Options.RawInput) from the training set, and folds fresh weights
// (Options.FreshWeights).
func (t *Trainer) standardise(train *data.Set) error {
	if t.o.RawInput || t.Model.Task != models.Classify || t.State.Step > 0 || t.State.InputStd != nil || len(inputLayers(t.Model)) == 0 {
		return nil
	}
	t.State.InputMean, t.State.InputStd = InputStats(train)
	if err := t.setOptimizer(); err != nil {
		return err
	}
	if t.o.FreshWeights && t.std != nil {
		t.std.fold()
	}
	return nil
}

// CheckpointPath returns Dir/model.ckpt.
func (t *Trainer) CheckpointPath() string { return filepath.Join(t.o.Dir, "model.ckpt") }

func (t *Trainer) resume() error {
	path := t.CheckpointPath()
	c, err := checkpoint.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resuming: %w", err)
	}
	cfg, _ := json.Marshal(t.Model.Config)
	if c.Meta["config"] != string(cfg) {
		return fmt.Errorf("resuming: %s holds a different model configuration; use another --out directory", path)
	}
	if err := t.Model.LoadParams(c, false); err != nil {
		return fmt.Errorf("resuming from %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal([]byte(c.Meta["train_state"]), &st); err != nil {
		return fmt.Errorf("resuming from %s: training state: %w", path, err)
	}
	st.Epochs = t.o.Epochs
	t.State = st
	if err := t.setOptimizer(); err != nil {
		return fmt.Errorf("resuming from %s: %w", path, err)
	}
	optState := map[string]*tensor.Tensor{}
	for k, v := range c.Tensors {
		if len(k) > 6 && k[:6] == "optim." {
			optState[k[6:]] = v
		}
	}
	if err := t.loadSums(c.Tensors); err != nil {
		return fmt.Errorf("resuming from %s: %w", path, err)
	}
	if len(optState) > 0 {
		if err := t.Opt.LoadState(optState); err != nil {
			return fmt.Errorf("resuming from %s: %w", path, err)
		}
	}
	return nil
}

// Save writes the model, optimizer and training state to path atomically.
func (t *Trainer) Save(path string) error {
	st, err := json.Marshal(t.State)
	if err != nil {
		return fmt.Errorf("training state: %w", err)
	}
	extra := map[string]*tensor.Tensor{}
	for k, v := range t.Opt.State() {
		extra["optim."+k] = v
	}
	if t.sums != nil {
		for i, p := range t.Model.Params() {
			extra[averagePrefix+p.Name] = tensor.FromData(t.sums[i], p.Value.Shape...)
		}
	}
	c, err := t.Model.Checkpoint(map[string]string{"train_state": string(st), "epoch": strconv.Itoa(t.State.Epoch)}, extra)
	if err != nil {
		return err
	}
	return checkpoint.Save(path, c)
}

// Run trains until o.Epochs epochs are complete, evaluating on test after
// each epoch and saving the checkpoint (o.Dir) after each. With no epochs
// to run (o.Epochs 0) it saves the model as it stands, so that o.Dir
// always holds the model Run leaves behind.
func (t *Trainer) Run(ctx context.Context, train, test *data.Set) error {
	if t.o.Epochs == 0 {
		if t.o.Dir == "" {
			return nil
		}
		return t.Save(t.CheckpointPath())
	}
	m := t.Model
	if err := t.standardise(train); err != nil {
		return err
	}
	sched := t.o.Schedule.rate(t.o.LR, t.o.Epochs)
	params := m.Params()
	b := NewBatch(train, t.o.Batch)
	div := newDivergence(t.State)
	for t.State.Epoch < t.o.Epochs {
		ep := t.State.Epoch
		aug := t.o.Augment
		aug.Seed = aug.Seed ^ uint64(ep)<<32 // a fresh, reproducible draw each epoch
		batcher := data.NewBatcher(train, t.o.Batch, rand.New(rand.NewPCG(t.o.Seed, uint64(ep))), aug)
		steps := batcher.Batches()
		var bar *progressbar.ProgressBar
		if t.o.Progress != nil && isTerminal(t.o.Progress) {
			bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(t.o.Progress),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", ep+1, t.o.Epochs)),
				progressbar.OptionShowCount(), progressbar.OptionSetItsString("batch"), progressbar.OptionShowIts(),
				progressbar.OptionThrottle(200e6), progressbar.OptionClearOnFinish())
		}
		var lossSum float64
		var count int
		for i := 0; ; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, ok := b.Next(batcher)
			if !ok {
				break
			}
			nn.ZeroGrad(params)
			loss, err := t.step(b, n)
			if err != nil {
				return fmt.Errorf("epoch %d step %d: %w", ep+1, i+1, err)
			}
			if t.State.StartLoss == 0 {
				t.State.StartLoss, t.State.ChanceLoss = loss, chanceLoss(m, b, n)
				div.setReference(t.State)
			}
			if div.observe(loss) {
				return t.diverged(fmt.Sprintf("epoch %d step %d", ep+1, i+1), div)
			}
			t.optStep(sched(float64(ep) + float64(i)/float64(steps)))
			t.State.Step++
			lossSum += loss * float64(n)
			count += n
			if bar != nil {
				bar.Add(1)
				if i%20 == 0 {
					bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", ep+1, t.o.Epochs, lossSum/float64(count)))
				}
			}
		}
		if bar != nil {
			bar.Finish()
		}
		if div.atEpochEnd() {
			return t.diverged(fmt.Sprintf("end of epoch %d", ep+1), div)
		}
		if err := t.average(ctx, ep, train); err != nil {
			return err
		}
		if ep == t.o.Epochs-1 && m.Task == models.SuperResolve && !t.o.KeepOutputBias {
			if err := t.correctOutputBias(ctx, train); err != nil {
				return err
			}
		}
		var score *float64
		if test != nil {
			s, err := Evaluate(ctx, m, test, t.o.Threads)
			if err != nil {
				return err
			}
			score = &s
		}
		t.State.Epoch++
		t.State.History = append(t.State.History, History{Epoch: t.State.Epoch, TrainLoss: lossSum / float64(max(count, 1)), TestScore: score})
		if t.o.Progress != nil {
			fmt.Fprintf(t.o.Progress, "epoch %d/%d: train loss %.4f", t.State.Epoch, t.o.Epochs, lossSum/float64(max(count, 1)))
			if score != nil {
				fmt.Fprintf(t.o.Progress, ", test %s %.4f", ScoreName(m.Task), *score)
			}
			fmt.Fprintln(t.o.Progress)
		}
		if t.o.Dir != "" {
			if err := t.Save(t.CheckpointPath()); err != nil {
				return err
			}
		}
	}
	return nil
}

// optStep applies one optimizer update with learning rate lr.
func (t *Trainer) optStep(lr float64) {
	if t.std != nil {
		t.std.pull()
		defer t.std.push()
	}
	t.Opt.Step(lr)
}

// diverged returns the divergence error for a run stopped at where,
// saying which checkpoint is kept.
func (t *Trainer) diverged(where string, d *divergence) error {
	err := fmt.Errorf("%s: %w at peak learning rate %g", where, d.err(), t.o.LR)
	switch {
	case t.o.Dir == "":
	case t.State.Epoch > 0:
		err = fmt.Errorf("%w; %s holds epoch %d, the last good one", err, t.CheckpointPath(), t.State.Epoch)
	default:
		err = fmt.Errorf("%w; no epoch completed", err)
	}
	return err
}

// isTerminal reports whether w is a character device: progress bars go to
// terminals; logs get one line per epoch.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ScoreName names the score Evaluate returns for a task: "accuracy" or
// "PSNR".
func ScoreName(t models.Task) string {
	if t == models.SuperResolve {
		return "PSNR"
	}
	return "accuracy"
}

// step runs one forward and backward pass and returns the loss.
func (t *Trainer) step(b *Batch, n int) (float64, error) {
	tp := t.tape
	defer tp.Reset()
	var labels []int
	var target *tensor.Tensor
	if t.Model.Task == models.SuperResolve {
		target = b.Y(n)
	} else {
		labels = b.Labels[:n]
	}
	loss := t.Model.Loss(tp, tp.Constant(b.X(n)), labels, target)
	l := float64(loss.Value.Data[0])
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return l, ErrNonFinite
	}
	tp.Backward(loss)
	return l, nil
}

// Evaluate returns the model's accuracy (classification) or mean PSNR in dB
// (super-resolution, images in [0, 1]) on s, in evaluation mode.
func Evaluate(ctx context.Context, m *models.Model, s *data.Set, threads int) (float64, error) {
	b := NewBatch(s, 256)
	batcher := data.NewBatcher(s, 256, nil, data.Augment{})
	var correct int
	var psnr float64
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, ok := b.Next(batcher)
		if !ok {
			break
		}
		out, err := m.Infer(ctx, b.X(n), threads)
		if err != nil {
			return 0, fmt.Errorf("evaluate: %w", err)
		}
		if m.Task == models.SuperResolve {
			y := b.Y(n)
			per := y.Len() / n
			for i := 0; i < n; i++ {
				psnr += metrics.ImagePSNR(out.Data[i*per:(i+1)*per], y.Data[i*per:(i+1)*per])
			}
		} else {
			c := out.Shape[1]
			for i := 0; i < n; i++ {
				if metrics.Argmax(out.Data[i*c:(i+1)*c]) == b.Labels[i] {
					correct++
				}
			}
		}
	}
	if s.N == 0 {
		return 0, fmt.Errorf("evaluate: empty data set")
	}
	if m.Task == models.SuperResolve {
		return psnr / float64(s.N), nil
	}
	return float64(correct) / float64(s.N), nil
}
