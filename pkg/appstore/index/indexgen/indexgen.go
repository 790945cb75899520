// Package indexgen generates Helm repository indexes for tests and benchmarks: the
// index package's tests parse them, and hack/bench/bench-appstore serves one to a Repo.
// It is not used by the product.
package indexgen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

var words = strings.Fields(`apache airflow is a tool to express and execute workflows as directed acyclic
graphs it includes utilities to schedule tasks monitor task progress and handle task dependencies
open source distributed database platform scalable reliable secure kubernetes cluster deployment
message broker streaming analytics search engine cache monitoring logging metrics dashboard`)

// Bitnami writes a Helm repository index shaped like Bitnami's as `helm repo index`
// emits it (yaml.v2 style: sorted keys, indentless sequences, descriptions wrapped at
// 80 columns, quoted timestamps), with the annotations, dependencies and maintainers
// the parser must skip: charts*versions entries, about 1 KB each. The same arguments
// give the same bytes.
func Bitnami(charts, versions int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(charts * versions * 1100)
	b.WriteString("apiVersion: v1\nentries:\n")
	base := time.Date(2024, 5, 13, 12, 0, 0, 0, time.UTC)
	for c := 0; c < charts; c++ {
		name := fmt.Sprintf("%s-%s%d", words[r.IntN(len(words))], words[r.IntN(len(words))], c)
		fmt.Fprintf(&b, "  %s:\n", name)
		desc := sentence(r, 4+r.IntN(8))
		for v := 0; v < versions; v++ {
			ver := fmt.Sprintf("%d.%d.%d", versions-v/20, (versions-v)%20, v%3)
			if v%17 == 5 {
				ver += "-rc." + fmt.Sprint(v%4)
			}
			if v%10 == 0 { // descriptions change now and then, usually they repeat
				desc = sentence(r, 4+r.IntN(8))
			}
			app := fmt.Sprintf("%d.%d.%d", 2+v/30, v%10, r.IntN(5))
			b.WriteString("  - annotations:\n      category: Infrastructure\n      images: |\n")
			for i := 0; i < 1+r.IntN(8)/7; i++ {
				img := words[r.IntN(len(words))]
				fmt.Fprintf(&b, "        - name: %s\n          image: docker.io/bitnami/%s:%s-debian-12-r%d\n", img, img, app, r.IntN(30))
			}
			b.WriteString("      licenses: Apache-2.0\n    apiVersion: v2\n")
			fmt.Fprintf(&b, "    appVersion: %s\n", app)
			fmt.Fprintf(&b, "    created: \"%s\"\n", base.Add(-time.Duration(c*versions+v)*time.Hour).Format(time.RFC3339Nano))
			b.WriteString("    dependencies:\n    - name: common\n      repository: oci://registry-1.docker.io/bitnamicharts\n" +
				"      version: 2.x.x\n")
			writeWrapped(&b, "    description: ", desc, "      ")
			fmt.Fprintf(&b, "    digest: %x\n", sha256.Sum256([]byte(name+ver)))
			b.WriteString("    home: https://bitnami.com\n")
			fmt.Fprintf(&b, "    icon: https://bitnami.com/assets/stacks/%s/img/%s-stack-220x234.png\n", name, name)
			fmt.Fprintf(&b, "    keywords:\n    - %s\n    - %s\n", words[c%len(words)], words[(c+3)%len(words)])
			b.WriteString("    maintainers:\n    - name: Broadcom, Inc. All Rights Reserved.\n      url: https://github.com/bitnami/charts\n")
			fmt.Fprintf(&b, "    name: %s\n", name)
			fmt.Fprintf(&b, "    sources:\n    - https://github.com/bitnami/charts/tree/main/bitnami/%s\n", name)
			fmt.Fprintf(&b, "    urls:\n    - https://charts.bitnami.com/bitnami/%s-%s.tgz\n", name, ver)
			fmt.Fprintf(&b, "    version: %s\n", ver)
		}
	}
	b.WriteString("generated: \"2024-05-13T12:40:00.123456789Z\"\n")
	return b.Bytes()
}

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = words[r.IntN(len(words))]
	}
	return strings.ToUpper(w[0][:1]) + strings.Join(w, " ")[1:] + "."
}

// writeWrapped folds a plain scalar at 80 columns the way yaml.v2 does.
func writeWrapped(b *bytes.Buffer, prefix, s, indent string) {
	b.WriteString(prefix)
	col := len(prefix)
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if col > 80 {
				b.WriteString("\n" + indent)
				col = len(indent)
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteByte('\n')
}
