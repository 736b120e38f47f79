package storage

import (
	"strings"
	"testing"
)

// TestLoggerQuietsCacheAdvice: Badger's warnings and errors reach the
// writer, but the cache monitor's sizing advice (a warning and a
// histogram every minute while recovery reads blocks once) only with
// Verbose, as its informational messages.
func TestLoggerQuietsCacheAdvice(t *testing.T) {
	emit := func(l *logger) {
		l.Warningf("%s might be too small. Metrics: %s\n", "Block cache", "hit: 0")
		l.Warningf("Cache life expectancy (in seconds): %+v\n", "histogram")
		l.Warningf("value log %d is corrupt", 3)
		l.Errorf("cannot open %s", "MANIFEST")
		l.Infof("compaction of level %d", 0)
	}
	var quiet, verbose strings.Builder
	emit(&logger{w: &quiet})
	emit(&logger{w: &verbose, verbose: true})

	if want := "badger warning: value log 3 is corrupt\nbadger error: cannot open MANIFEST\n"; quiet.String() != want {
		t.Fatalf("quiet logger wrote\n%q\nwant\n%q", quiet.String(), want)
	}
	for _, s := range []string{"Block cache might be too small", "Cache life expectancy", "value log 3 is corrupt", "cannot open MANIFEST", "badger info: compaction of level 0"} {
		if !strings.Contains(verbose.String(), s) {
			t.Errorf("verbose logger left out %q:\n%s", s, verbose.String())
		}
	}
}
