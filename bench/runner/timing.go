package runner

import (
	"slices"
	"strconv"
	"time"
)

// minSample is the shortest a timed sample may be: shorter calls are
// repeated within one sample, so that the clock's resolution and the cost
// of reading it (tens of ns) do not dominate a 100 ns count.
const minSample = 20 * time.Microsecond

// maxBatch bounds the calls per sample.
const maxBatch = 4096

// Latency is the distribution of one operation's time.
type Latency struct {
	P50, P95, P99 time.Duration
	Samples       int
	Batch         int // calls per sample
}

// measure runs f warm times and for at least warmFor, then takes runs
// samples of it. Each sample is the mean of a batch of calls sized from
// the warm-up so that a sample lasts at least minSample. f's error stops
// the measurement.
//
// warmFor exists because the runner returns free memory to the OS after
// the start (to measure what a server holds): the first second or so of
// an allocating query then faults in fresh pages, measured at 10M as 478
// against 286 µs a count for tag-range-3, which is not the steady state
// of a running server.
func measure(warm int, warmFor time.Duration, runs int, f func() error) (Latency, error) {
	warm = max(warm, 1)
	var slowest time.Duration
	start := time.Now()
	for i := 0; i < warm || time.Since(start) < warmFor; i++ {
		t := time.Now()
		if err := f(); err != nil {
			return Latency{}, err
		}
		if i < warm {
			slowest = max(slowest, time.Since(t))
		}
	}
	batch := 1
	if slowest < minSample {
		batch = min(maxBatch, int(minSample/max(slowest, time.Nanosecond))+1)
	}
	samples := make([]time.Duration, max(runs, 1))
	for i := range samples {
		t := time.Now()
		for range batch {
			if err := f(); err != nil {
				return Latency{}, err
			}
		}
		samples[i] = time.Since(t) / time.Duration(batch)
	}
	slices.Sort(samples)
	return Latency{
		P50: percentile(samples, 50), P95: percentile(samples, 95), P99: percentile(samples, 99),
		Samples: len(samples), Batch: batch,
	}, nil
}

// percentile is the nearest-rank percentile of sorted samples: the value
// at rank ceil(p/100·n), always one of the samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// us is d in microseconds; three decimals keep every nanosecond, so a
// ratio of two reported times equals the ratio of the measured ones.
func us(d time.Duration) float64 { return round(float64(d)/1e3, 3) }

func round(x float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return f
}

func itoa(n int) string { return strconv.Itoa(n) }
