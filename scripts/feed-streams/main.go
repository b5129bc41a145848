// Opens N idle SSE streams of the change feed and holds them, printing the
// server's VmRSS before and after.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

func rss(pid string) string {
	data, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

func main() {
	url := flag.String("url", "http://127.0.0.1:18089", "")
	token := flag.String("token", "bench", "")
	n := flag.Int("n", 1000, "")
	pid := flag.String("pid", "", "")
	flag.Parse()
	fmt.Println("before:", rss(*pid))
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: *n}
	client := &http.Client{Transport: tr}
	ok := 0
	for i := 0; i < *n; i++ {
		req, _ := http.NewRequest("GET", *url+"/core/v2/endpoints/changes", nil)
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Accept", "text/event-stream")
		res, err := client.Do(req)
		if err != nil || res.StatusCode != 200 {
			fmt.Println("stream", i, err, res)
			continue
		}
		ok++
		go func() {
			r := bufio.NewReader(res.Body)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	fmt.Printf("%d streams open: %s\n", ok, rss(*pid))
}
