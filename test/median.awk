# median.awk holds the median that test/ab.sh and test/ab-self.sh print:
# they prepend it to their own awk program, which collects n[k] (the runs
# of build k) and w[k, i] (the wall time of its i-th run).

# median returns the median of w[k, 1..n[k]]: a small insertion sort.
function median(k,    m, i, j, t, v) {
	m = n[k]
	for (i = 1; i <= m; i++) v[i] = w[k, i]
	for (i = 2; i <= m; i++) { t = v[i]; for (j = i - 1; j > 0 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
