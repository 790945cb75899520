package framework

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// ChartArchive is a Helm chart archive (.tgz) of chart name at version with a ConfigMap,
// and pad bytes of incompressible files beside it, to make it as large as wanted.
func ChartArchive(t testing.TB, name, version string, pad int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(path string, body []byte) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name + "/" + path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(body)
		require.NoError(t, err)
	}
	add("Chart.yaml", fmt.Appendf(nil, "apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"1.0\"\ndescription: An uploaded chart\n", name, version))
	add("values.yaml", []byte("greeting: hello\n"))
	add("templates/configmap.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"))
	for i := 0; pad > 0; i++ {
		n := min(pad, 4<<20)
		blob := make([]byte, n)
		_, _ = rand.Read(blob)
		add(fmt.Sprintf("files/blob%d.bin", i), blob)
		pad -= n
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}
