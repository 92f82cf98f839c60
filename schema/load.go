package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
)

// LoadOptions says where Load reads the configuration from.
type LoadOptions struct {
	// File is the config file: YAML (.yaml, .yml), TOML (.toml) or JSON
	// (any other name). A file with Resgate's flat keys is read as a
	// Resgate config. Empty means none, unless Flags has -c/--config.
	File string
	// CreateMissing makes a missing JSON File be created as Resgate's -c
	// does: a Resgate config made of the defaults and the Resgate flags,
	// mode 0664, then read. A failure to write is a warning. It is implied
	// when the file name comes from a -c/--config flag.
	CreateMissing bool
	// Env is the environment, as os.Environ returns it; nil reads none.
	// Variables starting with RESEDGE_ set config keys (see the package
	// documentation); an unknown one is an error.
	Env []string
	// Flags are the command-line flags given explicitly, in order: Resgate
	// flags, and config key paths (see Flag).
	Flags []Flag
	// Warn receives warnings, such as Resgate's deprecation of a
	// requestTimeout in seconds. Nil discards them.
	Warn func(string)
}

// fileInput is a config file's content.
type fileInput struct {
	name, format string
	data         []byte
	// forceResgate reads the file as a Resgate config whatever its keys.
	forceResgate bool
}

// Load reads the configuration in layers, each overriding the one before:
// the built-in defaults, the config file, the environment, the flags. It
// validates the result against the schema and by the semantic checks of
// Validate, and returns every problem at once as a *ValidationError. An
// error reading the file (other than a missing one that CreateMissing
// creates) is returned wrapped, so that errors.Is(err, fs.ErrNotExist)
// works.
func Load(opts LoadOptions) (*Config, error) {
	return load(opts, nil)
}

// loader holds the state of one Load.
type loader struct {
	opts   LoadOptions
	s      *schemas
	k      *koanf.Koanf
	orig   origins
	issues []issue
	// schemaPaths are paths the schema found problems at (or below, for a
	// missing key); semantic problems there are left out as duplicates.
	schemaPaths map[string]bool
	warned      map[string]bool
}

func (l *loader) warn(msg string) {
	if l.opts.Warn != nil && !l.warned[msg] {
		l.warned[msg] = true
		l.opts.Warn(msg)
	}
}

func load(opts LoadOptions, in *fileInput) (*Config, error) {
	l := &loader{opts: opts, s: compiled(), k: koanf.New("."), orig: origins{}, warned: map[string]bool{}}
	flags := parseFlags(opts.Flags)
	l.issues = append(l.issues, flags.issues...)

	if in == nil {
		file, create := opts.File, opts.CreateMissing
		if file == "" && flags.config != "" {
			file, create = flags.config, true
		}
		if file != "" {
			data, err := os.ReadFile(file)
			switch {
			case errors.Is(err, fs.ErrNotExist) && create && formatOf(file) == formatJSON:
				// As Resgate, write the file before validating it, but not
				// from flags that are wrong themselves.
				data = resgateFile(flags)
				if len(flags.issues) == 0 {
					if err := os.WriteFile(file, data, 0o664); err != nil {
						l.warn(fmt.Sprintf("could not create config file %s: %s", file, unwrapPathError(err)))
					}
				}
			case err != nil:
				return nil, fmt.Errorf("config file %s: %w", file, err)
			}
			in = &fileInput{name: file, format: formatOf(file), data: data}
		}
	}

	if err := l.k.Load(confmap.Provider(l.s.defaults(l.s.root(false), true), ""), nil); err != nil {
		return nil, err
	}

	var hints resgateHints
	if in != nil {
		p := parseFile(in.name, in.format, in.data)
		if p.m == nil {
			return nil, &ValidationError{Problems: locate(p.issues, nil, nil)}
		}
		l.issues = append(l.issues, p.issues...)
		if in.forceResgate || IsResgate(p.m) {
			native, ok := l.resgate(in, p)
			if ok {
				if err := l.k.Load(confmap.Provider(native.m, ""), nil); err != nil {
					return nil, err
				}
				hints = native.hints
			}
		} else {
			for k, o := range p.orig {
				l.orig[k] = o
			}
			if err := l.k.Load(confmap.Provider(p.m, ""), nil); err != nil {
				return nil, err
			}
		}
	}

	l.env()
	l.flags(flags, hints)
	l.fillDefaults()

	// Validate against the schema; decode what it accepts, so that the
	// rest still gets its semantic checks.
	raw := l.k.Raw()
	res := schemaIssues(l.s, l.s.native, false, raw)
	l.issues = append(l.issues, res.issues...)
	l.schemaPaths = res.covered
	pruned := l.k.Raw()
	prune(pruned, res.rejected)
	delete(pruned, "$schema")
	cfg, err := decode(pruned)
	if err != nil && len(res.issues) == 0 {
		l.issues = append(l.issues, issue{msg: err.Error()})
	}
	if cfg != nil {
		normalizeConfig(cfg)
		for _, is := range cfg.validate() {
			if !l.coveredBySchema(is.path) {
				l.issues = append(l.issues, is)
			}
		}
	}
	if len(l.issues) > 0 {
		return nil, &ValidationError{Problems: locate(l.issues, l.orig, raw)}
	}
	return cfg, nil
}

// coveredBySchema reports whether the schema found a problem at path or
// at an ancestor of it.
func (l *loader) coveredBySchema(path []string) bool {
	for i := len(path); i >= 0; i-- {
		if l.schemaPaths[pathKey(path[:i])] {
			return true
		}
	}
	return false
}

type resgateNative struct {
	m     map[string]any
	hints resgateHints
}

// resgate validates a Resgate config file and maps it to the native
// format, recording for each native path the Resgate key (and line) it came
// from.
func (l *loader) resgate(in *fileInput, p *parsed) (*resgateNative, bool) {
	locateNow := func(iss []issue) {
		for _, is := range iss {
			if is.at == nil {
				o, ok := p.orig.find(is.path)
				if !ok {
					o = origin{file: in.name}
				}
				is.at = &o
			}
			l.issues = append(l.issues, is)
		}
	}
	res := schemaIssues(l.s, l.s.resgate, true, p.m)
	locateNow(res.issues)
	flat := make(map[string]any, len(p.m))
	for k, v := range p.m {
		flat[k] = v
	}
	prune(flat, res.rejected)
	r, err := decodeResgate(flat)
	if err != nil {
		locateNow([]issue{{msg: err.Error(), noPath: true}})
		return nil, false
	}
	m, from, hints, iss := r.toNative(l.warn)
	locateNow(iss)
	for k, key := range from {
		if key == "" {
			continue
		}
		if o, ok := p.orig[pathKey([]string{key})]; ok {
			o.display = key
			l.orig[k] = o
		}
	}
	return &resgateNative{m: m, hints: hints}, true
}

// env applies the RESEDGE_ environment variables.
func (l *loader) env() {
	vars := envVars(l.opts.Env)
	if len(vars) == 0 {
		return
	}
	r := &resolver{s: l.s, raw: l.k.Raw(), env: true}
	environ := make([]string, len(vars))
	for i, kv := range vars {
		environ[i] = kv[0] + "=" + kv[1]
	}
	transform := func(name, val string) (string, any) {
		segs := strings.Split(strings.TrimPrefix(name, EnvPrefix), "_")
		path, leaf, rerr := r.resolve(segs)
		if rerr != nil {
			is := issue{msg: "unknown key", at: &origin{env: name}, noPath: true}
			if rerr.key == "" {
				is.msg = "names a group of keys; set one of its keys"
			} else if sug := r.suggestion(rerr, "_", envName); sug != "" {
				is.suggest = strings.TrimSuffix(sug, "_")
			}
			l.issues = append(l.issues, is)
			return "", nil
		}
		if !validNames(path) {
			l.issues = append(l.issues, issue{msg: fmt.Sprintf("invalid name %q: %s", path[1], nameRule), at: &origin{env: name}, noPath: true})
			return "", nil
		}
		l.claim(r.raw, path, origin{env: name})
		return strings.Join(path, "."), l.s.convert(leaf, val)
	}
	p := env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: transform,
		EnvironFunc:   func() []string { return environ },
	})
	if err := l.k.Load(p, nil); err != nil {
		l.issues = append(l.issues, issue{msg: err.Error(), noPath: true})
	}
}

// flags applies the Resgate flags, then the config path flags.
func (l *loader) flags(f *flagSet, hints resgateHints) {
	edits, iss := resgateEdits(f, l.k.Raw(), hints, l.warn)
	l.issues = append(l.issues, iss...)
	for _, e := range edits {
		l.apply(e)
	}
	for _, fl := range f.paths {
		r := &resolver{s: l.s, raw: l.k.Raw()}
		path, leaf, rerr := r.resolve(strings.Split(fl.Name, "."))
		if rerr != nil {
			is := issue{msg: "unknown key", at: &origin{flag: fl.Name}, noPath: true}
			if rerr.key == "" {
				is.msg = "names a group of keys; set one of its keys"
			} else if sug := r.suggestion(rerr, ".", func(p []string) string { return strings.Join(p, ".") }); sug != "" {
				is.suggest = "--" + strings.TrimSuffix(sug, ".")
			}
			l.issues = append(l.issues, is)
			continue
		}
		if !validNames(path) {
			l.issues = append(l.issues, issue{msg: fmt.Sprintf("invalid name %q: %s", path[1], nameRule), at: &origin{flag: fl.Name}, noPath: true})
			continue
		}
		l.apply(edit{path: path, value: l.s.convert(leaf, fl.Value), flag: fl.Name})
	}
}

// claim records o as the origin of path, and of the objects on the way
// to it that raw (the configuration before) does not have.
func (l *loader) claim(raw map[string]any, path []string, o origin) {
	for i := 1; i < len(path); i++ {
		if _, ok := valueAt(raw, path[:i]); !ok {
			if _, has := l.orig[pathKey(path[:i])]; !has {
				l.orig[pathKey(path[:i])] = o
			}
		}
	}
	l.orig.set(path, o)
}

// apply makes one change to the merged configuration.
func (l *loader) apply(e edit) {
	before := l.k.Raw()
	key := strings.Join(e.path, ".")
	l.k.Delete(key)
	if !e.del {
		if err := l.k.Set(key, e.value); err != nil {
			l.issues = append(l.issues, issue{msg: err.Error(), at: &origin{flag: e.flag}, noPath: true})
			return
		}
	}
	l.claim(before, e.path, origin{flag: e.flag})
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// validNames reports whether the listener or TLS name in path, if any, is
// usable as a koanf key.
func validNames(path []string) bool {
	if len(path) >= 2 && (path[0] == "listeners" || path[0] == "tls") {
		return nameRE.MatchString(path[1])
	}
	return true
}

// fillDefaults adds the default listener when none is configured, and the
// defaults of each listener's kind.
func (l *loader) fillDefaults() {
	raw := l.k.Raw()
	listeners, ok := raw["listeners"].(map[string]any)
	if _, present := raw["listeners"]; !present {
		d := l.s.listenerDefaults(KindHTTP)
		d["address"] = DefaultAddress
		_ = l.k.Set("listeners."+DefaultListenerName, d)
		return
	}
	if !ok {
		return
	}
	for name, v := range listeners {
		lm, ok := v.(map[string]any)
		if !ok || !nameRE.MatchString(name) {
			continue
		}
		kind, _ := lm["kind"].(string)
		if kind == "" {
			kind = KindHTTP
		}
		if kind != KindHTTP && kind != KindMetrics && kind != KindRedirect {
			continue
		}
		for k, dv := range l.s.listenerDefaults(kind) {
			if _, set := lm[k]; !set {
				_ = l.k.Set("listeners."+name+"."+k, dv)
			}
		}
	}
}

// decode turns the merged map into a Config. Unknown keys are an error (a
// backstop behind the schema).
func decode(raw map[string]any) (*Config, error) {
	var cfg Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:     "koanf",
		ErrorUnused: true,
		DecodeHook:  decodeHook,
		Result:      &cfg,
	})
	if err != nil {
		return nil, err
	}
	err = dec.Decode(raw)
	for name, l := range cfg.Listeners {
		if l == nil {
			l = &Listener{}
			cfg.Listeners[name] = l
		}
		l.Name = name
	}
	return &cfg, err
}

var (
	durationType = reflect.TypeFor[Duration]()
	tlsRefType   = reflect.TypeFor[TLSRef]()
)

// decodeHook decodes Durations from milliseconds or duration strings,
// TLSRefs from a name or an inline object, and strings from numbers.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch to {
	case durationType:
		switch v := data.(type) {
		case int:
			return Duration(int64(v) * 1e6), nil
		case float64:
			return Duration(int64(v * 1e6)), nil
		case string:
			return parseDuration(v)
		}
	case tlsRefType:
		switch v := data.(type) {
		case string:
			return TLSRef{Name: v}, nil
		case map[string]any:
			var t TLS
			dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
				TagName: "koanf", ErrorUnused: true, DecodeHook: decodeHook, Result: &t,
			})
			if err != nil {
				return nil, err
			}
			if err := dec.Decode(v); err != nil {
				return nil, err
			}
			return TLSRef{Inline: &t}, nil
		}
	}
	// A number where a string is wanted is one the schema lets through:
	// minVersion: 1.3 written without quotes.
	if f, ok := data.(float64); ok && to.Kind() == reflect.String {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	return data, nil
}

// normalizeConfig applies the normalizations Resgate applies to its
// settings: the API path ends with '/'.
func normalizeConfig(c *Config) {
	for _, l := range c.Listeners {
		if l.APIPath != "" && !strings.HasSuffix(l.APIPath, "/") {
			l.APIPath += "/"
		}
	}
}

// unwrapPathError drops the operation and path from a file error, for
// messages that already name the file.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
