// Batch-norm (+ GELU) kernels for one channel of a float32 (N, C, ...)
// tensor: n runs of plane values, the runs stride values apart. Built only
// with the Go build tag openblas; the pure-Go versions in batchnorm.go
// compute the same numbers.
#include <math.h>
#include <stdint.h>
#include <string.h>

// Each kernel is compiled three times; the loader picks the widest the CPU has.
#define DIFFLAB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// native_clone names the clone of the kernels that runs on this CPU, chosen
// as the target_clones resolver chooses: the first of avx512f and avx2 the
// CPU (and the operating system) supports, else the default x86-64 one.
static const char *native_clone(void) {
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) return "avx512f";
	if (__builtin_cpu_supports("avx2")) return "avx2";
	return "default (x86-64)";
}

// native_compiler names the compiler that built the kernels.
static const char *native_compiler(void) {
#if defined(__clang__)
	return "clang " __clang_version__;
#else
	return "gcc " __VERSION__;
#endif
}

// select_f is c ? a : b written with bit masks, so that the loops using it
// vectorise without -ffast-math.
static inline float select_f(int c, float a, float b) {
	int32_t m = -(int32_t)(c != 0), ab, bb;
	memcpy(&ab, &a, sizeof ab);
	memcpy(&bb, &b, sizeof bb);
	ab = (ab & m) | (bb & ~m);
	memcpy(&a, &ab, sizeof a);
	return a;
}

// erf_f is the rational float32 erf approximation of erf32 in gelu.go.
static inline float erf_f(float x) {
	x = select_f(x > 4.f, 4.f, select_f(x < -4.f, -4.f, x));
	float x2 = x * x;
	float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
	p = x2 * p + -2.10102402082508e-06f;
	p = x2 * p + -5.69250639462346e-05f;
	p = x2 * p + -7.34990630326855e-04f;
	p = x2 * p + -2.95459980854025e-03f;
	p = x2 * p + -1.60960333262415e-02f;
	p *= x;
	float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
	q = x2 * q + -1.68282697438203e-03f;
	q = x2 * q + -7.37332916720468e-03f;
	q = x2 * q + -1.42647390514189e-02f;
	return p / q;
}

// exp_f is exp32 of gelu.go for x <= 0 (values below -87 give about 1e-38).
static inline float exp_f(float x) {
	x = select_f(x < -87.f, -87.f, x);
	float t = x * 1.44269504088896341f + 0.5f;
	int32_t ki = (int32_t)(t + 1000.f) - 1000; // floor, as t > -1000
	float k = (float)ki;
	float r = x - k * 0.693145751953125f - k * 1.428606765330187045e-06f;
	float p = 1.f / 5040;
	p = p * r + 1.f / 720;
	p = p * r + 1.f / 120;
	p = p * r + 1.f / 24;
	p = p * r + 1.f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.f;
	p = p * r + 1.f;
	int32_t bits = (ki + 127) << 23;
	float s;
	memcpy(&s, &bits, sizeof s);
	return s * p;
}

static inline float phi_cdf(float z) { return 0.5f + 0.5f * erf_f(z * 0.70710678118654752440f); }
static inline float gelu_f(float z) { return z * phi_cdf(z); }
static inline float gelu_prime(float z) {
	return phi_cdf(z) + z * (0.39894228040143267794f * exp_f(-0.5f * z * z));
}

DIFFLAB_CLONES
static void bn_stats(const float *x, long n, long stride, long plane, double *mean, double *var) {
	double sum = 0;
	for (long i = 0; i < n; i++) {
		const float *r = x + i * stride;
#pragma omp simd reduction(+ : sum)
		for (long j = 0; j < plane; j++) sum += r[j];
	}
	double cnt = (double)n * plane, m = sum / cnt, ss = 0;
	for (long i = 0; i < n; i++) {
		const float *r = x + i * stride;
#pragma omp simd reduction(+ : ss)
		for (long j = 0; j < plane; j++) {
			double d = r[j] - m;
			ss += d * d;
		}
	}
	*mean = m;
	*var = ss / cnt;
}

DIFFLAB_CLONES
static void bn_affine(const float *x, float *y, long n, long stride, long plane, float a, float b, int gelu) {
	for (long i = 0; i < n; i++) {
		const float *src = x + i * stride;
		float *dst = y + i * stride;
		if (gelu) {
#pragma omp simd
			for (long j = 0; j < plane; j++) dst[j] = gelu_f(src[j] * a + b);
		} else {
#pragma omp simd
			for (long j = 0; j < plane; j++) dst[j] = src[j] * a + b;
		}
	}
}

DIFFLAB_CLONES
static void bn_backward(const float *x, const float *dy, float *dx, long n, long stride, long plane, float mean,
                        float inv, float gm, float bt, int gelu, int training, double cnt, double *sg_out,
                        double *sgx_out) {
	double sg = 0, sgx = 0;
	for (long i = 0; i < n; i++) {
		const float *xs = x + i * stride, *gs = dy + i * stride;
		float *ds = dx + i * stride;
		if (gelu) {
#pragma omp simd reduction(+ : sg, sgx)
			for (long j = 0; j < plane; j++) {
				float xh = (xs[j] - mean) * inv;
				float g = gs[j] * gelu_prime(gm * xh + bt);
				ds[j] = g;
				sg += g;
				sgx += g * xh;
			}
		} else {
#pragma omp simd reduction(+ : sg, sgx)
			for (long j = 0; j < plane; j++) {
				float xh = (xs[j] - mean) * inv;
				float g = gs[j];
				ds[j] = g;
				sg += g;
				sgx += g * xh;
			}
		}
	}
	float scale = gm * inv, mg = 0, mgx = 0;
	if (training) {
		mg = (float)(sg / cnt);
		mgx = (float)(sgx / cnt);
	}
	for (long i = 0; i < n; i++) {
		const float *xs = x + i * stride;
		float *ds = dx + i * stride;
#pragma omp simd
		for (long j = 0; j < plane; j++) {
			float xh = (xs[j] - mean) * inv;
			ds[j] = scale * (ds[j] - mg - xh * mgx);
		}
	}
	*sg_out = sg;
	*sgx_out = sgx;
}

// im2col unfolds one image x (c, h, w) into col (c*k*k, ho*wo) for a
// convolution with stride s and zero padding p; col2im adds col back onto a
// zeroed image. They are im2col and col2im of conv_kernels.go.
DIFFLAB_CLONES
static void im2col_f(const float *x, float *col, long c, long h, long w, long k, long s, long p, long ho, long wo) {
	long hw = ho * wo;
	for (long ci = 0; ci < c; ci++) {
		const float *xc = x + ci * h * w;
		for (long kh = 0; kh < k; kh++) {
			for (long kw = 0; kw < k; kw++) {
				float *row = col + ((ci * k + kh) * k + kw) * hw;
				long off = kw - p;
				long lo = off < 0 ? (-off + s - 1) / s : 0;
				long hi = off >= w ? 0 : (w - off + s - 1) / s;
				if (hi > wo) hi = wo;
				if (hi < lo) hi = lo;
				for (long oh = 0; oh < ho; oh++) {
					float *dst = row + oh * wo;
					long ih = oh * s - p + kh;
					if (ih < 0 || ih >= h) {
						for (long ow = 0; ow < wo; ow++) dst[ow] = 0;
						continue;
					}
					const float *src = xc + ih * w + off;
					for (long ow = 0; ow < lo; ow++) dst[ow] = 0;
					if (s == 1) {
						for (long ow = lo; ow < hi; ow++) dst[ow] = src[ow];
					} else {
						for (long ow = lo; ow < hi; ow++) dst[ow] = src[ow * s];
					}
					for (long ow = hi; ow < wo; ow++) dst[ow] = 0;
				}
			}
		}
	}
}

DIFFLAB_CLONES
static void col2im_f(const float *col, float *x, long c, long h, long w, long k, long s, long p, long ho, long wo) {
	long hw = ho * wo;
	for (long ci = 0; ci < c; ci++) {
		float *xc = x + ci * h * w;
		for (long kh = 0; kh < k; kh++) {
			for (long kw = 0; kw < k; kw++) {
				const float *row = col + ((ci * k + kh) * k + kw) * hw;
				long off = kw - p;
				long lo = off < 0 ? (-off + s - 1) / s : 0;
				long hi = off >= w ? 0 : (w - off + s - 1) / s;
				if (hi > wo) hi = wo;
				if (hi < lo) hi = lo;
				for (long oh = 0; oh < ho; oh++) {
					long ih = oh * s - p + kh;
					if (ih < 0 || ih >= h) continue;
					const float *src = row + oh * wo;
					float *dst = xc + ih * w + off;
					if (s == 1) {
						for (long ow = lo; ow < hi; ow++) dst[ow] += src[ow];
					} else {
						for (long ow = lo; ow < hi; ow++) dst[ow * s] += src[ow];
					}
				}
			}
		}
	}
}
