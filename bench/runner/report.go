package runner

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is what one run measured. The first six fields are the shape
// issue 7 asks for; the others explain them.
type Report struct {
	Profiles int `json:"profiles"`
	// LoadRecordsPerS is the in-memory load (generate, decode, apply)
	// rate; 0 when the dataset was reused from --data.
	LoadRecordsPerS float64 `json:"load_records_per_s"`
	// RSSBytes is VmRSS after recovery and a GC that returns free memory
	// to the OS; BytesPerProfile is RSSBytes / Profiles.
	RSSBytes        uint64        `json:"rss_bytes"`
	BytesPerProfile float64       `json:"bytes_per_profile"`
	StartupS        float64       `json:"startup_s"`
	Queries         []QueryResult `json:"queries"`

	// IngestRecordsPerS is the engine's own ingest rate (NDJSON decode
	// and apply, the bulk path) over IngestSample records generated
	// into memory beforehand, so the generator does not share the cores
	// (see ingestRate); 0 when skipped.
	IngestRecordsPerS float64 `json:"ingest_records_per_s,omitempty"`
	IngestSample      int     `json:"ingest_sample,omitempty"`

	LoadPath string  `json:"load_path"`
	Reused   bool    `json:"reused"`
	LoadS    float64 `json:"load_s,omitempty"`
	// DurableLoadRecordsPerS is 'cohort load' over the same records
	// written as NDJSON, when measured (--durable).
	DurableLoadRecordsPerS float64 `json:"durable_load_records_per_s,omitempty"`
	CheckpointS            float64 `json:"checkpoint_s,omitempty"`
	HeapBytes              uint64  `json:"heap_bytes"`
	HeapBytesPerProfile    float64 `json:"heap_bytes_per_profile"`
	// GoHeldBytes is what the Go runtime holds from the OS (Sys minus
	// HeapReleased): heap spans in use and idle, stacks, runtime
	// metadata. RSS beyond it is mostly Badger's memory-mapped files.
	GoHeldBytes uint64 `json:"go_held_bytes"`
	// RSSAnonBytes and RSSFileBytes split RSSBytes into anonymous memory
	// (the Go heap and runtime) and pages of mapped files (Badger's
	// tables), which the kernel can drop under pressure.
	RSSAnonBytes uint64 `json:"rss_anon_bytes"`
	RSSFileBytes uint64 `json:"rss_file_bytes"`
	// LoadRSSBytes is VmRSS just after the in-memory load (one copy,
	// garbage of the load returned); PeakRSSBytes is VmHWM at the end.
	LoadRSSBytes uint64  `json:"load_rss_bytes,omitempty"`
	PeakRSSBytes uint64  `json:"peak_rss_bytes"`
	Seed         int64   `json:"seed"`
	Now          string  `json:"now"`
	Runs         int     `json:"runs"`
	SlowRuns     int     `json:"slow_runs"`
	Machine      Machine `json:"machine"`
	ElapsedS     float64 `json:"elapsed_s"`
}

// QueryResult is one query of the mix.
type QueryResult struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Query string `json:"query"`
	// Count is the segment's size (count), the profiled segment's size
	// (profile) or the audience returned (lookalike).
	Count   uint64  `json:"count"`
	P50US   float64 `json:"p50_us"`
	P95US   float64 `json:"p95_us"`
	P99US   float64 `json:"p99_us"`
	FloorUS float64 `json:"floor_us"`
	// Ratio is p50 / floor, from the unrounded times.
	Ratio float64 `json:"ratio"`
	// FloorCount is what the floor counted: Count for a count without
	// OR; for the profile, the segment's profiles with a value of the
	// field; for the lookalike nothing meaningful (the stand-in bitsets
	// do not overlap), kept so every entry has the same shape.
	FloorCount uint64 `json:"floor_count"`
	Runs       int    `json:"runs"`
	Batch      int    `json:"batch"`
	// FirstP50US and FirstRatio (counts only) are the p50 and its ratio
	// to the floor of the same count as a first one: ranges and windows
	// computed from the index every run (exec.Options.Fresh). The p50
	// above reads what the views keep from a condition's second use on,
	// the path of a marketer refining a segment on one snapshot.
	FirstP50US float64 `json:"first_p50_us,omitempty"`
	FirstRatio float64 `json:"first_ratio,omitempty"`
	// FirstFloorUS and FirstFloorRatio (counts whose leaves read bit
	// slices or day bitmaps) are the floor of what a first count reads
	// and the first p50's ratio to it: AndPopcount over the dense form of
	// every stored bitmap its ranges and windows are computed from (a
	// range's slices and existence bitmap, a window's days), each read
	// once, in place of the leaf already combined.
	FirstFloorUS    float64 `json:"first_floor_us,omitempty"`
	FirstFloorRatio float64 `json:"first_floor_ratio,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu,omitempty"`
	MemBytes   uint64 `json:"mem_bytes,omitempty"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	// GoMemLimit is the Go runtime's soft memory limit (GOMEMLIMIT)
	// when one is set: the 100M runs set it, and memory figures and
	// latencies depend on it (the collector works harder near it).
	GoMemLimit uint64 `json:"go_mem_limit_bytes,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	m.CPU, _ = procField("/proc/cpuinfo", "model name")
	if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
		m.GoMemLimit = uint64(lim)
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal"); ok {
		m.MemBytes = kib(kb)
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file; false if the file or key is missing (not Linux).
func procField(path, key string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// kib parses "123 kB" into bytes; 0 if it is not that.
func kib(s string) uint64 {
	n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(s, "kB")), 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// rssSplit returns RssAnon and RssFile of this process (0 where unknown).
func rssSplit() (anon, file uint64) {
	if v, ok := procField("/proc/self/status", "RssAnon"); ok {
		anon = kib(v)
	}
	if v, ok := procField("/proc/self/status", "RssFile"); ok {
		file = kib(v)
	}
	return anon, file
}

// rss returns VmRSS and VmHWM of this process (0 where unknown).
func rss() (cur, peak uint64) {
	if v, ok := procField("/proc/self/status", "VmRSS"); ok {
		cur = kib(v)
	}
	if v, ok := procField("/proc/self/status", "VmHWM"); ok {
		peak = kib(v)
	}
	return cur, peak
}

// WriteTable writes the report as text tables.
func (r *Report) WriteTable(w io.Writer) error {
	bw := &errWriter{w: w}
	m := r.Machine
	limit := ""
	if m.GoMemLimit != 0 {
		limit = ", GOMEMLIMIT " + bytesStr(m.GoMemLimit)
	}
	fmt.Fprintf(bw, "Cohort bench: %d profiles, seed %d, now %s; %d CPUs (GOMAXPROCS %d), %s, %s, %s%s\n\n",
		r.Profiles, r.Seed, r.Now, m.CPUs, m.GOMAXPROCS, m.CPU, m.GoVersion, m.OS, limit)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	load := "reused (" + r.LoadPath + ")"
	if !r.Reused {
		load = fmt.Sprintf("%.0f records/s (%s, %.1f s)", r.LoadRecordsPerS, r.LoadPath, r.LoadS)
	}
	rows := [][2]string{
		{"load", load},
	}
	if r.IngestRecordsPerS > 0 {
		rows = append(rows, [2]string{"ingest from memory (decode + apply)", fmt.Sprintf("%.0f records/s (the first %d records, generated beforehand)", r.IngestRecordsPerS, r.IngestSample)})
	}
	rows = append(rows, [][2]string{
		{"resident memory (VmRSS after GC)", fmt.Sprintf("%s (%.1f B/profile)", bytesStr(r.RSSBytes), r.BytesPerProfile)},
		{"Go heap in use", fmt.Sprintf("%s (%.1f B/profile)", bytesStr(r.HeapBytes), r.HeapBytesPerProfile)},
		{"held by the Go runtime", bytesStr(r.GoHeldBytes)},
		{"resident: anonymous / mapped files", bytesStr(r.RSSAnonBytes) + " / " + bytesStr(r.RSSFileBytes)},
		{"peak resident memory (VmHWM)", bytesStr(r.PeakRSSBytes)},
		{"startup from disk (open + recover)", fmt.Sprintf("%.3f s", r.StartupS)},
	}...)
	if r.CheckpointS > 0 {
		rows = append(rows, [2]string{"checkpoint", fmt.Sprintf("%.3f s", r.CheckpointS)})
	}
	if r.DurableLoadRecordsPerS > 0 {
		rows = append(rows, [2]string{"durable load (cohort load)", fmt.Sprintf("%.0f records/s", r.DurableLoadRecordsPerS)})
	}
	for _, row := range rows {
		fmt.Fprintf(bw, "  %-36s %s\n", row[0], row[1])
	}
	fmt.Fprintf(bw, "\n")
	fmt.Fprintf(tw, "query\tcount\tp50\tp95\tp99\tfloor\tratio\tfirst p50\tfirst ratio\tfloor of its reads\tratio\t\n")
	for _, q := range r.Queries {
		first, firstRatio, reads, readsRatio := "", "", "", ""
		if q.FirstP50US > 0 {
			first, firstRatio = durStr(q.FirstP50US), fmt.Sprintf("%.2f×", q.FirstRatio)
		}
		if q.FirstFloorUS > 0 {
			reads, readsRatio = durStr(q.FirstFloorUS), fmt.Sprintf("%.2f×", q.FirstFloorRatio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.2f×\t%s\t%s\t%s\t%s\t\n", q.Name, q.Count,
			durStr(q.P50US), durStr(q.P95US), durStr(q.P99US), durStr(q.FloorUS), q.Ratio, first, firstRatio, reads, readsRatio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.err
}

// durStr prints microseconds the way the BENCHMARKS tables do.
func durStr(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2f s", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2f ms", us/1e3)
	case us >= 1:
		return fmt.Sprintf("%.1f µs", us)
	}
	return fmt.Sprintf("%.0f ns", us*1e3)
}

func bytesStr(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d B", b)
}

// errWriter keeps the first write error, so the table code need not
// check every Fprintf.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
