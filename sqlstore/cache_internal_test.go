package sqlstore

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"envoi"
	"envoi/secret"
)

// SetConfigCache turns the cache of configuration reads on or off, for
// the benchmarks of package sqlstore_test.
func SetConfigCache(s *Store, on bool) { s.cache.off.Store(!on) }

// ConfigTables returns the tables of the configuration (configTables), for
// the tests of package sqlstore_test.
func ConfigTables() []string { return slices.Clone(configTables) }

// ConfigTriggers returns the names of the triggers that bump
// config_version when table is written (configTriggers).
func ConfigTriggers(dialect, table string) []string { return configTriggers(dialect, table) }

func openInternal(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: t.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "old"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCachedVersionFirst lets a change commit (through the write handle,
// as another process would, without dropping the cache) after the value
// was read and before the lookup stores it: the value must not be kept
// under the new version.
func TestCachedVersionFirst(t *testing.T) {
	s := openInternal(t)
	ctx := context.Background()
	read := func() (*envoi.Company, error) {
		c, err := s.readCompany(ctx, "FORTERRO")
		if err != nil {
			return nil, err
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE companies SET name = 'new' WHERE code = 'FORTERRO'`); err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := cached(ctx, s, cacheCompany, "FORTERRO", read, cloneCompany)
	if err != nil || c.Name != "old" {
		t.Fatalf("first read = %v, %v", c, err)
	}
	if c, err := s.Company(ctx, "FORTERRO"); err != nil || c.Name != "new" {
		t.Fatalf("read after the change = %v, %v; want name new", c, err)
	}
}

// TestCachedHit checks the cache serves a value while the version stands,
// and reads again once it moves.
func TestCachedHit(t *testing.T) {
	s := openInternal(t)
	ctx := context.Background()
	if _, err := s.Company(ctx, "FORTERRO"); err != nil {
		t.Fatal(err)
	}
	reads := 0
	read := func() (*envoi.Company, error) { reads++; return s.readCompany(ctx, "FORTERRO") }
	for range 3 {
		if c, err := cached(ctx, s, cacheCompany, "FORTERRO", read, cloneCompany); err != nil || c.Name != "old" {
			t.Fatalf("cached = %v, %v", c, err)
		}
	}
	if reads != 0 {
		t.Errorf("%d reads of the database with the version unchanged, want 0", reads)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE companies SET name = 'new'`); err != nil {
		t.Fatal(err)
	}
	if c, err := cached(ctx, s, cacheCompany, "FORTERRO", read, cloneCompany); err != nil || c.Name != "new" || reads != 1 {
		t.Errorf("after a change: %v, %v, %d reads; want new from one read", c, err, reads)
	}

	SetConfigCache(s, false)
	reads = 0
	for range 2 {
		if _, err := cached(ctx, s, cacheCompany, "FORTERRO", read, cloneCompany); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 2 {
		t.Errorf("cache off: %d reads, want 2", reads)
	}
}

func TestCacheBound(t *testing.T) {
	var c configCache
	for i := range maxCacheEntries + 10 {
		c.put(cacheKey{cacheCompany, strconv.Itoa(i)}, 1, i)
	}
	if n := len(c.entries); n == 0 || n > maxCacheEntries {
		t.Errorf("%d entries, want 1 to %d", n, maxCacheEntries)
	}
	c.put(cacheKey{cacheCompany, "x"}, 5, "new")
	c.put(cacheKey{cacheCompany, "x"}, 4, "old")
	if v, ok := c.get(cacheKey{cacheCompany, "x"}, 5); !ok || v != "new" {
		t.Errorf("a lookup that read earlier replaced a newer entry: %v", v)
	}
}

// TestClonesDeep fills every field of each cached type and checks its
// clone is equal and shares no memory, so that a field added later with a
// slice or a map fails here until its clone copies it.
func TestClonesDeep(t *testing.T) {
	for _, tt := range []struct {
		name  string
		v     any
		clone func(any) any
	}{
		{"AuthFlow", &envoi.AuthFlow{}, func(v any) any { return cloneAuthFlow(v.(*envoi.AuthFlow)) }},
		{"Operator", &envoi.Operator{}, func(v any) any { return cloneOperator(v.(*envoi.Operator)) }},
		{"Company", &envoi.Company{}, func(v any) any { return cloneCompany(v.(*envoi.Company)) }},
		{"DocumentFlow", &envoi.DocumentFlow{}, func(v any) any { return cloneDocumentFlow(v.(*envoi.DocumentFlow)) }},
		{"MailSetting", &envoi.MailSetting{}, func(v any) any { return cloneMailSetting(v.(*envoi.MailSetting)) }},
		{"FileNameRule", &envoi.FileNameRule{}, func(v any) any { return cloneFileNameRule(v.(*envoi.FileNameRule)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fill(t, reflect.ValueOf(tt.v).Elem())
			c := tt.clone(tt.v)
			if !reflect.DeepEqual(c, tt.v) {
				t.Fatalf("clone %+v differs from %+v", c, tt.v)
			}
			if p := shared(reflect.ValueOf(tt.v), reflect.ValueOf(c), tt.name); p != "" {
				t.Errorf("the clone shares %s with the original", p)
			}
		})
	}
}

// fill sets every field reachable from v to a value other than zero.
func fill(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(t, v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k)
		fill(t, e)
		v.SetMapIndex(k, e)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i))
			}
		}
	default:
		t.Fatalf("fill: a field of kind %s: teach fill and the clones about it", v.Kind())
	}
}

// shared returns the path of the first slice, map or pointer a and b have
// in common, "" if none.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Slice, reflect.Map:
		if a.Len() > 0 && a.UnsafePointer() == b.UnsafePointer() {
			return path
		}
		if a.Kind() == reflect.Slice {
			for i := range a.Len() {
				if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
					return p
				}
			}
		}
	case reflect.Pointer:
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}
