// Command cohort is Cohort's single binary. It only wires flags to the
// packages that do the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "generate a demo dataset, serve it over HTTP and query it", runDemo},
		{"serve", "serve the HTTP API over a data directory", runServe},
		{"gen", "write a deterministic synthetic dataset (schema + NDJSON)", runGen},
		{"load", "load NDJSON or CSV files durably into a dataset of a data directory", runLoad},
		{"query", "count (or explain) a segment query over a data directory", runQuery},
		{"profile", "profile an audience: values, shares, TGI, numeric statistics", runProfile},
		{"overlap", "sizes and pairwise intersections of audiences", runOverlap},
		{"split", "split an audience into stable test groups", runSplit},
		{"lookalike", "grow an audience with profiles that look like it", runLookalike},
		{"segment", "save, list or delete saved segments of a dataset", runSegment},
		{"backup", "write a consistent backup of a data directory to a file", runBackup},
		{"restore", "create a data directory from a backup file", runRestore},
		{"bench", "benchmark load, memory, startup and a query mix beside its floor ('bench lookalike': the lookalike evaluation)", runBench},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Cohort — in-memory audience segmentation.\n\nUsage: cohort <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cohort <command> -h' for a command's flags.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// COHORT_CPUPROFILE=FILE profiles any command, for finding where a
	// load or a benchmark spends its time.
	if path := os.Getenv("COHORT_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			writeAllocs(os.Getenv("COHORT_MEMPROFILE"))
			os.Exit(code)
		}
		fmt.Fprintf(os.Stderr, "cohort: cannot profile to %s: %v\n", path, err)
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	writeAllocs(os.Getenv("COHORT_MEMPROFILE"))
	os.Exit(code)
}

// writeAllocs writes the allocation profile (every allocation since the
// start, sampled) to path when it is not empty: COHORT_MEMPROFILE=FILE
// shows what a command allocates, for finding the garbage that keeps
// the collector busy near GOMEMLIMIT.
func writeAllocs(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cohort: cannot write the allocation profile to %s: %v\n", path, err)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "cohort %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "cohort: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("cohort "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
