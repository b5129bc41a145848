package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/kamailio"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The end-to-end proof with real SIP: the real switchboard binary (serve,
// kamailio sync, kamailio check), Debian's Kamailio running
// deploy/kamailio/kamailio.cfg, and sipp sending OPTIONS from distinct
// loopback sources. .ci/run installs kamailio and sip-tester and requires
// both subtests to pass, not skip.

const (
	kamailioCfg   = "../../deploy/kamailio/kamailio.cfg"
	sippScenario  = "testdata/sipp-options.xml"
	decisionLimit = 20 * time.Second // polled, not slept: a generous bound for a loaded CI machine
	sipRealm      = "switchboard"
	agentScopes   = "endpoints.manage,endpoints.manage_auth_required"
	systemGateway = "127.0.0.20:5060"
)

func needKamailio(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"kamailio", "sipp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install kamailio sip-tester)", tool)
		}
	}
}

// kamailioProc is a Kamailio running the reference configuration on
// loopback, with its own data, run and FIFO paths.
type kamailioProc struct {
	sip      string // host:port of its UDP listener
	dataDir  string
	runDir   string
	fifo     string
	cmd      *exec.Cmd
	log      *syncBuffer
	scenario string
	tmp      string
	exited   chan struct{} // closed when the process has exited
}

// startKamailio starts Kamailio on a loopback port free for both UDP and
// TCP (it listens on both). Another process can take the port between our
// check and Kamailio's bind; Kamailio then exits at once, and we try again
// on another port rather than wait out the readiness limit.
func startKamailio(t *testing.T, dataDir, runDir string) *kamailioProc {
	t.Helper()
	const attempts = 5
	for i := 1; ; i++ {
		k, err := tryStartKamailio(t, dataDir, runDir, freeSIPPort(t))
		if err == nil {
			t.Cleanup(k.stop)
			return k
		}
		if i == attempts {
			t.Fatalf("kamailio did not start in %d attempts: %v\n%s", attempts, err, k.log.String())
		}
		t.Logf("kamailio attempt %d: %v; trying another port", i, err)
	}
}

func tryStartKamailio(t *testing.T, dataDir, runDir string, port int) (*kamailioProc, error) {
	t.Helper()
	cfg, err := filepath.Abs(kamailioCfg)
	if err != nil {
		t.Fatal(err)
	}
	scenario, _ := filepath.Abs(sippScenario)
	k := &kamailioProc{sip: fmt.Sprintf("127.0.0.1:%d", port), dataDir: dataDir, runDir: runDir, fifo: filepath.Join(runDir, "rpc.fifo"), log: &syncBuffer{}, scenario: scenario, tmp: t.TempDir(), exited: make(chan struct{})}
	// Kamailio loads its files at start: an empty state until the agent
	// writes its own.
	if _, err := os.Stat(filepath.Join(dataDir, kamailio.AddressFile)); os.IsNotExist(err) {
		if _, _, err := (&kamailio.Files{Dir: dataDir}).Write(kamailio.State{}); err != nil {
			t.Fatal(err)
		}
	}
	def := func(name, value string) []string { return []string{"-A", name + "=" + value} }
	args := []string{"-DD", "-E", "-m", "64", "-M", "128", "-f", cfg, "-Y", runDir, "-P", filepath.Join(runDir, "kamailio.pid")}
	for _, d := range [][]string{
		def("SB_LISTEN", "udp:"+k.sip),
		def("SB_LISTEN_TCP", "tcp:"+k.sip),
		def("SB_ADDRESS_FILE", strconv.Quote(filepath.Join(dataDir, kamailio.AddressFile))),
		def("SB_DB_URL", strconv.Quote("text://"+dataDir)),
		def("SB_RPC_FIFO", strconv.Quote(k.fifo)),
		def("SB_RPC_REPLY_DIR", strconv.Quote(runDir+"/")),
		def("SB_CTL", strconv.Quote("unix:"+filepath.Join(runDir, "ctl"))),
	} {
		args = append(args, d...)
	}
	k.cmd = exec.Command("kamailio", args...)
	k.cmd.Stderr, k.cmd.Stdout = k.log, k.log
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its children are stopped with it
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { k.cmd.Wait(); close(k.exited) }()
	rpc := &kamailio.RPC{FIFO: k.fifo, ReplyDir: runDir, Timeout: time.Second}
	deadline := time.Now().Add(decisionLimit)
	for {
		if _, err := rpc.UpSince(context.Background()); err == nil {
			return k, nil
		}
		select {
		case <-k.exited:
			return k, fmt.Errorf("kamailio exited at start (%v)", k.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			k.stop()
			t.Fatalf("waited %s for kamailio to answer JSON-RPC:\n%s", decisionLimit, k.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *kamailioProc) stop() {
	select {
	case <-k.exited:
		return
	default:
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
	}
}

var (
	statusLineRE = regexp.MustCompile(`(?m)^SIP/2\.0 (\d{3})`)
	endpointRE   = regexp.MustCompile(`(?m)^X-Switchboard-Endpoint: (\S+)`)
)

// verdict is Kamailio's answer to one OPTIONS: 200 with the endpoint it
// identified, or 403 (0: no answer).
type verdict struct {
	Status   int
	Endpoint string
}

var sippSeq sync.Mutex

// probe sends one OPTIONS with sipp from src (ip:port), answering a
// challenge with user and password.
func (k *kamailioProc) probe(t *testing.T, src, user, password string) verdict {
	t.Helper()
	sippSeq.Lock() // one sipp at a time: they share the message file
	defer sippSeq.Unlock()
	ip, port, _ := net.SplitHostPort(src)
	msgs := filepath.Join(k.tmp, "sipp-messages.log")
	os.Remove(msgs)
	args := []string{k.sip, "-sf", k.scenario, "-i", ip, "-p", port, "-m", "1", "-timeout", "10s", "-recv_timeout", "3000",
		"-trace_msg", "-message_file", msgs, "-nostdin", "-nr"}
	if user != "" {
		args = append(args, "-au", user, "-ap", password)
	}
	cmd := exec.Command("sipp", args...)
	cmd.Dir = k.tmp
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(msgs)
	var v verdict
	if m := statusLineRE.FindAllStringSubmatch(string(data), -1); len(m) > 0 {
		v.Status, _ = strconv.Atoi(m[len(m)-1][1])
	}
	if v.Status == 200 {
		if m := endpointRE.FindAllStringSubmatch(string(data), -1); len(m) > 0 {
			v.Endpoint = m[len(m)-1][1]
		}
	}
	return v
}

// waitDecision polls until Kamailio's verdict for src is want.
func (k *kamailioProc) waitDecision(t *testing.T, src, user, password string, want verdict) time.Duration {
	t.Helper()
	start := time.Now()
	var last verdict
	waitFor(t, fmt.Sprintf("kamailio to answer %s (user %q) with %+v", src, user, want), func() bool {
		last = k.probe(t, src, user, password)
		return last == want
	}, func() string { return fmt.Sprintf("last verdict %+v", last) })
	return time.Since(start)
}

func waitFor(t *testing.T, what string, ok func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(decisionLimit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s:\n%s", decisionLimit, what, detail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kamailioDirs is a test's directory with Kamailio's data and run
// directories in it.
func kamailioDirs(t *testing.T) (dir, dataDir, runDir string) {
	dir = t.TempDir()
	dataDir, runDir = filepath.Join(dir, "data"), filepath.Join(dir, "run")
	for _, d := range []string{dataDir, runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, dataDir, runDir
}

// freeSIPPort is a loopback port that is free, at this moment, for both
// UDP and TCP.
func freeSIPPort(t *testing.T) int {
	t.Helper()
	for {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		c.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
}

// agentProc is `switchboard kamailio sync` as a real process.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

func startAgent(t *testing.T, bin, dsn string, k *kamailioProc, stateDir string) *agentProc {
	t.Helper()
	a := &agentProc{stderr: &syncBuffer{}}
	a.cmd = exec.Command(bin, "kamailio", "sync", "--db", dsn, "--data-dir", k.dataDir, "--state-dir", stateDir,
		"--rpc", k.fifo, "--realm", sipRealm, "--min-reload-interval", "1.1s", "--probe-interval", "500ms")
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *agentProc) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("kamailio sync exited with %v:\n%s", err, a.stderr.String())
	}
}

// check runs `switchboard kamailio check` and returns its output and
// whether it exited 0.
func check(t *testing.T, bin, dsn string, k *kamailioProc) (string, bool) {
	t.Helper()
	out, err := exec.Command(bin, "kamailio", "check", "--db", dsn, "--rpc", k.fifo, "--realm", sipRealm).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), err == nil
}

func createPartner(t *testing.T, dsn, name string) string {
	t.Helper()
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"partners", "create", "--db", dsn, "--name", name, "--scopes", agentScopes}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("partners create: %v\n%s", err, errOut.String())
	}
	m := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("partners create printed no token: %s", out.String())
	}
	return m[1]
}

func TestKamailioEndToEnd(t *testing.T) {
	if raceEnabled {
		t.Skip("the processes under test are built without the race detector; .ci/run runs this test without -race and requires it to pass")
	}
	needKamailio(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sqlite", func(t *testing.T) {
		kamailioScenarios(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "switchboard.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		kamailioScenarios(t, bin, sqlstoretest.PostgresDSN(t))
	})
}

func kamailioScenarios(t *testing.T, bin, dsn string) {
	dir, dataDir, runDir := kamailioDirs(t)
	stateDir := filepath.Join(dir, "agent")
	gateways := "SWITCHBOARD_SYSTEM_GATEWAYS=" + systemGateway
	server := startProcess(t, bin, dsn, gateways)
	tokens := []string{createPartner(t, dsn, "alpha"), createPartner(t, dsn, "beta"), createPartner(t, dsn, "gamma")}
	token := tokens[0]
	k := startKamailio(t, dataDir, runDir)
	agent := startAgent(t, bin, dsn, k, stateDir)
	refused := verdict{Status: 403}
	admitted := func(sid string) verdict { return verdict{Status: 200, Endpoint: sid} }
	endpoints := server.base + "/core/v2/endpoints"

	create := func(body string) string {
		t.Helper()
		status, e := call(t, "POST", endpoints, token, body)
		if status != 200 {
			t.Fatalf("POST %s: %d %v", body, status, e)
		}
		return e["endpoint_sid"].(string)
	}

	t.Run("system gateways are admitted as the operator's", func(t *testing.T) {
		k.waitDecision(t, systemGateway, "", "", verdict{Status: 200, Endpoint: "system_gateway"})
	})

	var sid string
	t.Run("unknown source refused, then admitted as the endpoint created", func(t *testing.T) {
		if v := k.probe(t, "127.0.0.11:5071", "", ""); v != refused {
			t.Fatalf("unknown source: %+v, want 403", v)
		}
		sid = create(`{"type":"third_party","auth_required":false,"addresses":[{"ip":"127.0.0.11","port":5071}]}`)
		k.waitDecision(t, "127.0.0.11:5071", "", "", admitted(sid))
	})

	t.Run("PATCH the port: old refused, new admitted; DELETE: refused", func(t *testing.T) {
		if status, e := call(t, "PATCH", endpoints+"/"+sid+"?nested_objects=replace", token, `{"addresses":[{"ip":"127.0.0.11","port":5072}]}`); status != 200 {
			t.Fatalf("PATCH: %d %v", status, e)
		}
		k.waitDecision(t, "127.0.0.11:5072", "", "", admitted(sid))
		if v := k.probe(t, "127.0.0.11:5071", "", ""); v != refused {
			f, _ := os.ReadFile(filepath.Join(dataDir, kamailio.AddressFile))
			d, _ := (&kamailio.RPC{FIFO: k.fifo, ReplyDir: runDir}).DumpAddresses(t.Context())
			t.Fatalf("old port after PATCH: %+v, want 403\nfile:\n%s\ndump: %v\nagent:%s\nkamailio:%s", v, f, d, agent.stderr.String(), k.log.String())
		}
		if status, _ := call(t, "DELETE", endpoints+"/"+sid, token, ""); status != 204 {
			t.Fatalf("DELETE: %d", status)
		}
		k.waitDecision(t, "127.0.0.11:5072", "", "", refused)
	})

	t.Run("digest: right credentials admitted as the endpoint, wrong refused", func(t *testing.T) {
		sid := create(`{"type":"third_party","auth_required":true,"addresses":[{"ip":"127.0.0.12","port":5060,"sip_username":"trunk-12","sip_password":"s3cret-12"}]}`)
		k.waitDecision(t, "127.0.0.13:5080", "trunk-12", "s3cret-12", admitted(sid))
		if v := k.probe(t, "127.0.0.13:5080", "trunk-12", "wrong"); v != refused {
			t.Fatalf("wrong password: %+v, want 403", v)
		}
		if v := k.probe(t, "127.0.0.13:5080", "nobody", "s3cret-12"); v != refused {
			t.Fatalf("unknown user: %+v, want 403", v)
		}
		// auth_required=true: its own address is not admitted without credentials.
		if v := k.probe(t, "127.0.0.12:5060", "", ""); v != refused {
			t.Fatalf("address of an auth_required=true endpoint without credentials: %+v, want 403", v)
		}
	})

	t.Run("5,000 random API changes, then no drift", func(t *testing.T) {
		counts := randomChanges(t, endpoints, tokens, 5000)
		t.Logf("statuses of the random changes: %v", counts)
		if counts[200]+counts[204] < 2500 {
			t.Fatalf("too few changes succeeded to prove anything: %v", counts)
		}
		var out string
		waitFor(t, "kamailio check to report no drift", func() bool {
			var ok bool
			out, ok = check(t, bin, dsn, k)
			return ok
		}, func() string { return out + "\nagent:\n" + agent.stderr.String() })
		if !strings.Contains(out, "no drift") {
			t.Fatalf("check passed without saying so:\n%s", out)
		}
		t.Logf("check: %s", lastLine(out))
	})

	t.Run("Switchboard stopped: Kamailio still admits; the restarted agent catches up", func(t *testing.T) {
		sid5 := create(`{"type":"third_party","auth_required":false,"addresses":[{"ip":"127.0.0.15","port":5090}]}`)
		k.waitDecision(t, "127.0.0.15:5090", "", "", admitted(sid5))
		server.cmd.Process.Signal(syscall.SIGTERM)
		server.cmd.Wait()
		agent.stop(t)
		if v := k.probe(t, "127.0.0.15:5090", "", ""); v != admitted(sid5) {
			t.Fatalf("with Switchboard and the agent stopped: %+v, want admitted as %s", v, sid5)
		}

		server = startProcess(t, bin, dsn, gateways)
		endpoints = server.base + "/core/v2/endpoints"
		if status, e := call(t, "PATCH", endpoints+"/"+sid5+"?nested_objects=replace", token, `{"addresses":[{"ip":"127.0.0.15","port":5091}]}`); status != 200 {
			t.Fatalf("PATCH: %d %v", status, e)
		}
		sid6 := create(`{"type":"third_party","auth_required":false,"addresses":[{"ip":"127.0.0.16","port":5090}]}`)
		out, ok := check(t, bin, dsn, k)
		if ok || !strings.Contains(out, "missing: address udp 127.0.0.16:5090") || !strings.Contains(out, "unexpected: address udp 127.0.0.15:5090") {
			t.Fatalf("check with the agent stopped after changes: exit 0 = %v, want the drift reported:\n%s", ok, out)
		}

		agent = startAgent(t, bin, dsn, k, stateDir)
		k.waitDecision(t, "127.0.0.16:5090", "", "", admitted(sid6))
		k.waitDecision(t, "127.0.0.15:5091", "", "", admitted(sid5))
		if v := k.probe(t, "127.0.0.15:5090", "", ""); v != refused {
			t.Fatalf("old port after catching up: %+v, want 403", v)
		}
		if out, ok := check(t, bin, dsn, k); !ok {
			t.Fatalf("check after catching up:\n%s", out)
		}
		log := agent.stderr.String()
		if !strings.Contains(log, "resuming") || strings.Contains(log, "read every endpoint") {
			t.Fatalf("the restarted agent should resume from its cursor without a full read:\n%s", log)
		}
	})
}

// randomChanges makes n API changes of the partners' endpoints from
// several clients: creates, address edits, auth_required flips and
// deletes, IPv4 and IPv6, with ports and usernames from small pools so
// that duplicate ip:port (409) and shared usernames (left out) happen.
func randomChanges(t *testing.T, endpoints string, tokens []string, n int) map[int]int {
	const workers = 6
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 14))
			token := tokens[w%len(tokens)]
			var mine []string
			address := func() string {
				ip := fmt.Sprintf("10.%d.%d.%d", w, r.IntN(4), 1+r.IntN(200))
				if r.IntN(3) == 0 {
					ip = fmt.Sprintf("2001:db8:%x::%x", w, 1+r.IntN(500))
				}
				a := fmt.Sprintf(`{"ip":%q,"port":%d,"transport":%q`, ip, 5060+r.IntN(3), []string{"udp", "tcp", "tls"}[r.IntN(3)])
				if r.IntN(2) == 0 { // mostly distinct usernames, a few shared (left out)
					a += fmt.Sprintf(`,"sip_username":"user-%d-%d","sip_password":"pw-%d"`, w, r.IntN(2000), r.IntN(2))
					if r.IntN(20) == 0 {
						a = fmt.Sprintf(`{"ip":%q,"sip_username":"shared-%d","sip_password":"pw"`, ip, r.IntN(5))
					}
				}
				return a + "}"
			}
			addresses := func() string {
				list := []string{address()}
				for r.IntN(3) == 0 {
					list = append(list, address())
				}
				return "[" + strings.Join(list, ",") + "]"
			}
			for i := range n / workers {
				var method, url, body string
				switch op := r.IntN(100); {
				case op < 35 || len(mine) == 0:
					method, url = "POST", endpoints
					body = fmt.Sprintf(`{"type":"third_party","auth_required":%v,"addresses":%s}`, r.IntN(2) == 0, addresses())
				case op < 60: // replaced, or (merge PATCH) appended
					method, url, body = "PATCH", endpoints+"/"+mine[r.IntN(len(mine))]+[]string{"?nested_objects=replace", ""}[r.IntN(2)], `{"addresses":`+addresses()+`}`
				case op < 78:
					method, url, body = "PATCH", endpoints+"/"+mine[r.IntN(len(mine))], fmt.Sprintf(`{"auth_required":%v}`, r.IntN(2) == 0)
				default:
					j := r.IntN(len(mine))
					method, url = "DELETE", endpoints+"/"+mine[j]
					mine = append(mine[:j], mine[j+1:]...)
				}
				status, e := call(t, method, url, token, body)
				if method == "POST" && status == 200 {
					mine = append(mine, e["endpoint_sid"].(string))
				}
				if status >= 500 || status == 400 || status == 422 {
					t.Errorf("change %d: %s %s %s: %d %v", i, method, url, body, status, e)
				}
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
