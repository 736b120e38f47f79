package engine

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/cohortdb/cohort/engine/schema"
)

// Options configure an Engine.
type Options struct {
	// Clock returns the current time; it decides "today" for event
	// retention. Nil means time.Now. Tests pass a fixed clock.
	Clock func() time.Time
}

// Engine is a set of named datasets.
type Engine struct {
	opts     Options
	mu       sync.RWMutex
	datasets map[string]*Dataset
}

// New returns an empty engine.
func New(opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Engine{opts: opts, datasets: map[string]*Dataset{}}
}

var datasetName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ValidateName checks a dataset name.
func ValidateName(name string) error {
	if !datasetName.MatchString(name) {
		return fmt.Errorf("dataset name %q must be 1–64 characters of a-z, 0-9, _ and -", name)
	}
	return nil
}

// ErrExists and ErrNotFound are returned by Create and Drop.
var (
	ErrExists   = fmt.Errorf("dataset already exists")
	ErrNotFound = fmt.Errorf("dataset not found")
)

// Create adds an empty dataset.
func (e *Engine) Create(name string, s *schema.Schema) (*Dataset, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.datasets[name]; ok {
		return nil, fmt.Errorf("cannot create %s: %w", name, ErrExists)
	}
	d := newDataset(name, s, e.opts.Clock, 0)
	e.datasets[name] = d
	return d, nil
}

// Dataset returns a dataset by name.
func (e *Engine) Dataset(name string) (*Dataset, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d, ok := e.datasets[name]
	if !ok {
		return nil, fmt.Errorf("dataset %s: %w", name, ErrNotFound)
	}
	return d, nil
}

// Drop removes a dataset. Readers holding its snapshots keep them.
func (e *Engine) Drop(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.datasets[name]; !ok {
		return fmt.Errorf("cannot drop %s: %w", name, ErrNotFound)
	}
	delete(e.datasets, name)
	return nil
}

// Names lists the datasets in order.
func (e *Engine) Names() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.datasets))
	for n := range e.datasets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
