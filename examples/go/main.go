// A lifeline agent in Go (bindings/go, cgo).
//
//	agent HOST:PORT[,HOST:PORT...] ID
//
// Stays online, reconnects by itself, says hello once online, echoes every
// DATA back as "echo:<payload>", and says BYE and exits on a DATA "quit".
package main

import (
	"fmt"
	"os"
	"time"

	"lifeline"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: agent HOST:PORT[,HOST:PORT...] ID")
		os.Exit(2)
	}
	client, err := lifeline.NewClient([2]string{"servers", os.Args[1]}, [2]string{"id", os.Args[2]},
		[2]string{"label", "lang=go"}, [2]string{"backoff_cap", "2s"})
	if err == nil {
		err = client.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeline:", err)
		os.Exit(1)
	}
	defer client.Close()
	done := make(chan struct{})
	for ev := range client.Events(done) {
		switch ev.Type {
		case lifeline.StateEvent:
			fmt.Println("state", ev.State, ev.Server, ev.Reason)
			if ev.State == lifeline.Online {
				if err := client.Send([]byte("hello from go")); err != nil {
					fmt.Fprintln(os.Stderr, "send:", err)
				}
			}
		case lifeline.DataEvent:
			fmt.Println("data", string(ev.Data))
			if string(ev.Data) == "quit" {
				close(done)
				_ = client.Stop(time.Second)
				fmt.Println("bye")
				return
			}
			if err := client.Send(append([]byte("echo:"), ev.Data...)); err != nil {
				fmt.Fprintln(os.Stderr, "send:", err)
			}
		case lifeline.OverflowEvent:
			fmt.Println("overflow", ev.Count)
		}
	}
}
