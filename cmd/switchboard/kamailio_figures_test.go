package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The figures of BENCHMARKS.md ("Kamailio"), measured, not asserted (the
// machine is shared): run with SWITCHBOARD_KAMAILIO_FIGURES=1, e.g.
//
//	SWITCHBOARD_KAMAILIO_FIGURES=1 go test -count=1 -v -timeout 30m \
//	  -run 'TestKamailioFigures' ./cmd/switchboard/
const figuresEnv = "SWITCHBOARD_KAMAILIO_FIGURES"

// needFigures skips unless asked for, and returns the binary and the
// database (SQLite, or PostgreSQL with FIGURES_POSTGRES set).
func needFigures(t *testing.T) (bin, dsn string) {
	if os.Getenv(figuresEnv) == "" {
		t.Skip(figuresEnv + " is not set")
	}
	needKamailio(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("FIGURES_POSTGRES") != "" {
		return bin, sqlstoretest.PostgresDSN(t)
	}
	return bin, "sqlite:" + filepath.Join(t.TempDir(), "switchboard.db")
}

// From the API's 200 to Kamailio's new decision, over 200 changes of one
// endpoint's port, each after a random pause of 0-1.5 s (changes arrive
// independently of the agent's reload rhythm). The probe (one sipp run) is
// part of the figure: its own time is measured too.
func TestKamailioFiguresPropagation(t *testing.T) {
	bin, dsn := needFigures(t)
	dir, dataDir, runDir := kamailioDirs(t)
	server := startProcess(t, bin, dsn)
	token := createPartner(t, dsn, "figures")
	k := startKamailio(t, dataDir, runDir)
	startAgent(t, bin, dsn, k, filepath.Join(dir, "agent"))
	endpoints := server.base + "/core/v2/endpoints"
	status, e := call(t, "POST", endpoints, token, `{"type":"third_party","auth_required":false,"addresses":[{"ip":"127.0.0.31","port":6000}]}`)
	if status != 200 {
		t.Fatalf("POST: %d %v", status, e)
	}
	sid := e["endpoint_sid"].(string)
	k.waitDecision(t, "127.0.0.31:6000", "", "", verdict{200, sid})

	r := rand.New(rand.NewPCG(14, 200))
	var lat, probes []time.Duration
	for i := 1; i <= 200; i++ {
		time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
		port := 6000 + i%2
		status, _ := call(t, "PATCH", endpoints+"/"+sid+"?nested_objects=replace", token, fmt.Sprintf(`{"addresses":[{"ip":"127.0.0.31","port":%d}]}`, port))
		acked := time.Now()
		if status != 200 {
			t.Fatalf("PATCH: %d", status)
		}
		src := fmt.Sprintf("127.0.0.31:%d", port)
		for {
			p := time.Now()
			v := k.probe(t, src, "", "")
			probes = append(probes, time.Since(p))
			if v == (verdict{200, sid}) {
				break
			}
			if time.Since(acked) > time.Minute {
				t.Fatalf("change %d not applied in a minute", i)
			}
		}
		lat = append(lat, time.Since(acked))
	}
	slices.Sort(lat)
	slices.Sort(probes)
	t.Logf("API 200 -> Kamailio's new decision over %d changes: median %s, p90 %s, worst %s (one sipp probe: median %s)",
		len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*9/10].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), probes[len(probes)/2].Round(time.Millisecond))
}

var tookRE = regexp.MustCompile(`"msg":"kamailio sync: read every endpoint","endpoints":(\d+),"cursor":"[^"]*","took":(\d+)`)

// 100,000 endpoints (auth_required=false, one IPv4 or IPv6 address each,
// a tenth with digest credentials instead): the agent's full rebuild
// (snapshot read, files written, Kamailio reloaded) and its peak memory.
func TestKamailioFiguresScale(t *testing.T) {
	bin, dsn := needFigures(t)
	db := sqlstoretest.Open(t, dsn)
	ctx := context.Background()
	const partners, perPartner = 10, 10_000
	fill := time.Now()
	for p := range partners {
		partner := sb.Partner{PartnerSID: sb.NewSID(), Name: fmt.Sprint("p", p), Scopes: sb.Scopes{sb.ScopeManage}}
		if err := db.CreatePartner(ctx, partner, ""); err != nil {
			t.Fatal(err)
		}
		list := make([]*sb.Endpoint, 0, perPartner)
		for i := range perPartner {
			ip := fmt.Sprintf("127.%d.%d.%d", p+1, i/250, 1+i%250) // loopback: sipp can send from it
			if i%2 == 1 {
				ip = fmt.Sprintf("2001:db8:%x::%x", p, i)
			}
			e := sb.NewSystemGateway(partner.PartnerSID, []sb.IPPort{{IP: ip, Port: 5060}})
			e.Type, e.Name = sb.TypeThirdParty, "trunk"
			if i%10 == 0 {
				e.AuthRequired = true
				user, pw := fmt.Sprintf("u-%d-%d", p, i), "pw"
				e.Addresses[0].SIPUsername, e.Addresses[0].SIPPassword = &user, &pw
			}
			list = append(list, e)
		}
		if _, err := db.ResetEndpoints(ctx, partner.PartnerSID, list); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stored %d endpoints in %s", partners*perPartner, time.Since(fill).Round(time.Millisecond))

	dir, dataDir, runDir := kamailioDirs(t)
	k := startKamailio(t, dataDir, runDir)
	start := time.Now()
	a := startAgent(t, bin, dsn, k, filepath.Join(dir, "agent"))
	// Admitted: the last endpoint's address (a full rebuild has reached Kamailio).
	k.waitDecisionWithin(t, 2*time.Minute, "127.10.39.249:5060")
	applied := time.Since(start)
	time.Sleep(6 * time.Second) // past a state save, which is part of its memory
	hwm := vmHWM(t, a.cmd.Process.Pid)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	t.Logf("agent now: %s", regexp.MustCompile(`(?m)^(VmRSS|RssAnon|RssFile):\s+(\d+ kB)`).FindAllString(string(status), -1))
	m := tookRE.FindStringSubmatch(a.stderr.String())
	t.Logf("full rebuild of %d endpoints: start to Kamailio admitting the last one %s (snapshot read %s ns); agent peak memory (VmHWM) %.1f MB",
		partners*perPartner, applied.Round(time.Millisecond), m[2], float64(hwm)/(1<<20))
	checkStart := time.Now()
	out, ok := check(t, bin, dsn, k)
	t.Logf("kamailio check at 100k: exit 0 = %v in %s: %s", ok, time.Since(checkStart).Round(time.Millisecond), lastLine(out))
}

// waitDecisionWithin polls until src is admitted (by anything).
func (k *kamailioProc) waitDecisionWithin(t *testing.T, d time.Duration, src string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for k.probe(t, src, "", "").Status != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("%s not admitted within %s:\n%s", src, d, k.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
