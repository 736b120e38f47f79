package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/server"
	"github.com/cohortdb/cohort/server/auth"
	"github.com/cohortdb/cohort/storage"
)

// serveFlags are the flags serve and demo share.
type serveFlags struct {
	addr, keys          *string
	insecure            *bool
	timeout, checkpoint *time.Duration
	maxHeavy            *int
	logFormat           *string
}

func addServeFlags(fs interface {
	String(name, value, usage string) *string
	Bool(name string, value bool, usage string) *bool
	Duration(name string, value time.Duration, usage string) *time.Duration
	Int(name string, value int, usage string) *int
}, defaultAddr string) serveFlags {
	return serveFlags{
		addr:       fs.String("addr", defaultAddr, "address to listen on"),
		keys:       fs.String("keys", "", "API keys file (JSON); without it the server only listens on loopback"),
		insecure:   fs.Bool("insecure", false, "allow serving without API keys on a non-loopback address"),
		timeout:    fs.Duration("timeout", 30*time.Second, "time limit of one request (ingest and export get ten times as long)"),
		checkpoint: fs.Duration("checkpoint-every", 5*time.Minute, "how often datasets with new records are checkpointed (0 = only at shutdown)"),
		maxHeavy:   fs.Int("max-heavy", 4, "concurrent ingest and export requests; more are refused with 429"),
		logFormat:  fs.String("log", "auto", "request log format: json, text, or auto (json unless stderr is a terminal)"),
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	data := fs.String("data", "", "data directory (a Cohort store; created if missing) (required)")
	sf := addServeFlags(fs, "127.0.0.1:7070")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cohort serve --data DIR [--addr 127.0.0.1:7070] [--keys FILE] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		fs.Usage()
		return errors.New("--data is required")
	}
	st, err := openStore(*data, false, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	e := engine.New(engine.Options{})
	rec, err := st.Recover(ctx, e)
	if err != nil {
		return err
	}
	for _, d := range rec.Datasets {
		fmt.Fprintf(stderr, "recovered %s: checkpoint through record %d, %d records replayed in %s\n", d.Name, d.Checkpoint, d.Records, d.Duration.Round(time.Millisecond))
	}
	return serveStore(ctx, st, e, sf, stderr, func(addr string) {
		fmt.Fprintf(stdout, "cohort serving %s on http://%s (console at /, API under /v1)\n", *data, addr)
	})
}

// serveStore serves e (recovered from st) until ctx ends, then shuts down
// gracefully: stop accepting, finish requests in flight, write a final
// checkpoint of every dataset. ready is called once listening.
func serveStore(ctx context.Context, st *storage.Store, e *engine.Engine, sf serveFlags, stderr io.Writer, ready func(addr string)) error {
	var keys *auth.Keys
	if *sf.keys != "" {
		var err error
		if keys, err = auth.Load(*sf.keys); err != nil {
			return err
		}
	}
	d := storage.NewDurable(st, e)
	srv, err := server.New(server.Config{
		Durable:  d,
		Keys:     keys,
		Addr:     *sf.addr,
		Insecure: *sf.insecure,
		Logger:   newLogger(*sf.logFormat, stderr),
		Timeout:  *sf.timeout,
		MaxHeavy: *sf.maxHeavy,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *sf.addr)
	if err != nil {
		return fmt.Errorf("cannot listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Leave the address where 'cohort backup --data DIR' looks for it.
	urlFile := filepath.Join(st.Dir(), serveURLFile)
	if err := os.WriteFile(urlFile, []byte(localURL(ln.Addr())+"\n"), 0o644); err != nil {
		fmt.Fprintf(stderr, "cannot write %s (online backup from the CLI will not find the server): %v\n", urlFile, err)
	}
	defer os.Remove(urlFile)
	ready(ln.Addr().String())

	var tick <-chan time.Time
	if *sf.checkpoint > 0 {
		t := time.NewTicker(*sf.checkpoint)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			for _, name := range e.Names() {
				if err := d.Checkpoint(ctx, name); err != nil {
					fmt.Fprintf(stderr, "checkpoint of %s failed (the log still holds everything): %v\n", name, err)
				}
			}
		case err := <-served:
			return fmt.Errorf("server stopped: %w", err)
		case <-ctx.Done():
			fmt.Fprintln(stderr, "shutting down: finishing requests in flight, then a final checkpoint")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "stopped cleanly")
			return nil
		}
	}
}

// localURL is how a process on this machine reaches addr: a wildcard
// listen address becomes loopback.
func localURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// newLogger logs JSON for machines and text for people.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" || (format != "text" && !isTerminal(w)) {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
