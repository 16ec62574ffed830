// Command webhookload sends signed webhook deliveries to the bot over HTTP
// and reports how many it accepted per second and how long each took to be
// answered. It is the load generator behind scripts/bench-webhooks.sh.
//
// Each delivery is a real pull_request payload from GitHub's examples (an
// action the bot stores and then ignores, so the queue's workers run while
// the load is measured without calling GitHub), with a fresh delivery id.
//
// Two modes: closed loop (-concurrency N senders, each sending as soon as the
// previous answer came: the most the bot takes), and open loop (-rate R
// deliveries per second on a fixed schedule, each timed from when it was due,
// so a slow answer cannot hide the ones queued behind it).
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
)

//go:embed pull_request.labeled.json
var payload []byte

type options struct {
	url         string
	secret      []byte
	count       int
	concurrency int
	rate        float64
	maxDuration time.Duration
	event       string
}

func main() {
	o, err := parseOptions(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(2)
	}
	r, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhookload:", err)
		os.Exit(1)
	}
	r.print(os.Stdout, o)
}

func parseOptions(args []string, getenv func(string) string) (options, error) {
	fs := flag.NewFlagSet("webhookload", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080/api/github/webhooks", "webhook endpoint")
	fs.IntVar(&o.count, "count", 10000, "deliveries to send")
	fs.IntVar(&o.concurrency, "concurrency", 16, "senders at once (closed loop), or the most in flight (open loop)")
	fs.Float64Var(&o.rate, "rate", 0, "deliveries per second on a fixed schedule (open loop); 0 means closed loop")
	fs.DurationVar(&o.maxDuration, "max-duration", time.Minute, "stop sending after this long")
	fs.StringVar(&o.event, "event", "pull_request", "X-GitHub-Event header")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.secret = []byte(getenv("CAC_WEBHOOK_SECRET"))
	if len(o.secret) == 0 {
		return o, errors.New("set CAC_WEBHOOK_SECRET to the bot's webhook secret")
	}
	if o.count < 1 || o.concurrency < 1 || o.rate < 0 {
		return o, errors.New("-count and -concurrency must be positive, -rate not negative")
	}
	return o, nil
}

// result is what the run measured.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of 2xx answers
	statuses  map[int]int
	errors    map[string]int
}

func run(ctx context.Context, o options) (*result, error) {
	mac := hmac.New(sha256.New, o.secret)
	mac.Write(payload)
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxDuration)
	defer cancel()
	runID := time.Now().UnixNano()

	var (
		mu  sync.Mutex
		res = &result{statuses: map[int]int{}, errors: map[string]int{}}
	)
	send := func(i int, due time.Time) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(payload))
		if err != nil {
			panic(err) // the URL was checked by the first request's construction
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", o.event)
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("load-%d-%d", runID, i))
		req.Header.Set("X-Hub-Signature-256", signature)
		resp, err := client.Do(req)
		took := time.Since(due)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				res.errors[err.Error()]++
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.statuses[resp.StatusCode]++
		if resp.StatusCode/100 == 2 {
			res.latencies = append(res.latencies, took)
		}
	}

	start := time.Now()
	jobs := make(chan int)
	var dues []time.Time
	if o.rate > 0 {
		dues = make([]time.Time, o.count)
		for i := range dues {
			dues[i] = start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))
		}
	}
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				due := time.Now()
				if dues != nil {
					due = dues[i]
				}
				send(i, due)
			}
		}()
	}
feed:
	for i := range o.count {
		if dues != nil {
			if wait := time.Until(dues[i]); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					break feed
				}
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	if len(res.latencies) == 0 {
		return res, fmt.Errorf("no delivery was accepted (statuses %v, errors %v)", res.statuses, res.errors)
	}
	return res, nil
}

func (r *result) print(w io.Writer, o options) {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	q := func(p float64) time.Duration {
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	mode := fmt.Sprintf("closed loop, %d senders", o.concurrency)
	if o.rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s, up to %d in flight", o.rate, o.concurrency)
	}
	fmt.Fprintf(w, "mode:      %s, %d-byte payload\n", mode, len(payload))
	fmt.Fprintf(w, "accepted:  %d of %d in %.2f s = %.0f deliveries/s\n",
		len(r.latencies), o.count, r.elapsed.Seconds(), float64(len(r.latencies))/r.elapsed.Seconds())
	fmt.Fprintf(w, "to 2xx:    p50 %s  p90 %s  p99 %s  max %s\n",
		ms(q(0.50)), ms(q(0.90)), ms(q(0.99)), ms(r.latencies[len(r.latencies)-1]))
	codes := make([]int, 0, len(r.statuses))
	for c := range r.statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "status %d:  %d\n", c, r.statuses[c])
	}
	for e, n := range r.errors {
		fmt.Fprintf(w, "error:     %d × %s\n", n, e)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
