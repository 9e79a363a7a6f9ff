# R reference values for rait_registry.analysis Tables 1-3 (tables.py, hypothesis_tests.py, logistic.py,
# and risk_factors_cox.py: Table 3's Cox counterpart, survival::coxph).
#
# Usage (from anywhere):
#   Rscript tests/r/stats1_references.R [analysis_cohort.csv] [rait_cycles.csv] [out.json]
# Defaults: tests/data/frozen_cohort/{analysis_cohort,rait_cycles}.csv -> tests/data/r_reference/stats1.json
#
# Needs only base R + jsonlite. logistf is not packaged for Debian bookworm, so Firth's
# penalised logistic regression is written out below from Heinze & Schemper (2002) /
# the logistf documentation: Newton-Raphson on the modified score, SEs from the inverse
# Fisher information, penalised likelihood-ratio p-values and profile penalised-likelihood
# CIs, restricted fits keeping the full-model penalty. It also checks, numerically, that the
# modified score is the gradient of the penalised log-likelihood.
#
# Conventions mirrored from the Python layer (keep both in step):
#   quartiles: quantile(type = 6); Mann-Whitney: wilcox.test(exact = FALSE, correct = TRUE);
#   categorical tests: chisq.test(correct = FALSE), chisq.test(correct = TRUE) (2 x 2), fisher.test
#   and a G-test by hand; the rule shown (revision 2): Pearson when every expected count >= 5,
#   else Yates for a 2 x 2 table and Fisher for a larger one (revision 1: else Fisher);
#   untestable levels (ATA "unknown", response "NE"), local disease "unknown" and NA are left
#   out of tests;
#   responses ranked CR < PR < SD < PD; glm with glm.control(epsilon = 1e-14, maxit = 100),
#   Wald CIs (confint.default); separation = a level with 0 or all events, glm not converged,
#   |coef| > 10 or SE > 10 -> Firth; selection p < 0.1, RAIT-exposure family: first passing only.

suppressPackageStartupMessages(library(jsonlite))
suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
script_dir <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "tests/r"
root <- normalizePath(file.path(script_dir, "..", ".."))
cohort_path <- if (length(args) >= 1) args[1] else file.path(root, "tests/data/frozen_cohort/analysis_cohort.csv")
cycles_path <- if (length(args) >= 2) args[2] else file.path(root, "tests/data/frozen_cohort/rait_cycles.csv")
out_path <- if (length(args) >= 3) args[3] else file.path(root, "tests/data/r_reference/stats1.json")

AGE_CUT <- 45
THRESHOLD <- 0.1
MONTH_DAYS <- 30.4375
GROUPS <- c("o-RAIT", "m-RAIT")
RESP <- c("CR", "PR", "SD", "PD")

co <- read.csv(cohort_path, stringsAsFactors = FALSE, na.strings = c(""), check.names = FALSE)
cy <- read.csv(cycles_path, stringsAsFactors = FALSE, na.strings = c(""), check.names = FALSE)
grp <- co$rait_group
is_o <- grp == GROUPS[1]
is_m <- grp == GROUPS[2]

q3 <- function(x) { x <- x[!is.na(x)]; if (!length(x)) return(NULL); unname(quantile(x, c(.5, .25, .75), type = 6)) }

continuous_ref <- function(x) {
  wt <- wilcox.test(x[is_o], x[is_m], exact = FALSE, correct = TRUE)
  list(overall = q3(x), o_rait = q3(x[is_o]), m_rait = q3(x[is_m]),
       W = unname(wt$statistic), p = wt$p.value, n_missing = sum(is.na(x)))
}

# likelihood-ratio chi-square (G-test) by hand: G = 2 sum O log(O / E), empty cells contribute 0
g_test <- function(tab) {
  E <- outer(rowSums(tab), colSums(tab)) / sum(tab)
  G <- 2 * sum(ifelse(tab > 0, tab * log(tab / E), 0))
  list(statistic = G, p = pchisq(G, (nrow(tab) - 1) * (ncol(tab) - 1), lower.tail = FALSE))
}

categorical_ref <- function(v, levels, untestable = character(0), missing_codes = character(0)) {
  v[v %in% missing_codes] <- NA  # a missing-data code (local disease "unknown") is missing data
  testable_levels <- setdiff(levels, untestable)
  ok <- !is.na(v) & v %in% testable_levels
  tab <- table(factor(v[ok], levels = testable_levels), factor(grp[ok], levels = GROUPS))
  counts <- list(
    overall = sapply(levels, function(l) sum(v == l, na.rm = TRUE)),
    o_rait = sapply(levels, function(l) sum(v[is_o] == l, na.rm = TRUE)),
    m_rait = sapply(levels, function(l) sum(v[is_m] == l, na.rm = TRUE)))
  counts <- lapply(counts, unname)
  t2 <- tab[rowSums(tab) > 0, colSums(tab) > 0, drop = FALSE]
  res <- list(levels = levels, counts = counts, n_missing = sum(!ok), n_na = sum(is.na(v)))
  if (nrow(t2) >= 2 && ncol(t2) >= 2) {
    expected <- outer(rowSums(t2), colSums(t2)) / sum(t2)
    cs <- suppressWarnings(chisq.test(t2, correct = FALSE))
    is_2x2 <- nrow(t2) == 2 && ncol(t2) == 2
    yp <- if (is_2x2) suppressWarnings(chisq.test(t2, correct = TRUE))$p.value else NA
    fp <- fisher.test(t2)$p.value
    g <- g_test(t2)
    small <- min(expected) < 5
    res$chisq_stat <- unname(cs$statistic)
    res$chisq_p <- cs$p.value
    res$yates_p <- yp
    res$g_stat <- g$statistic
    res$g_p <- g$p
    res$fisher_p <- fp
    res$min_expected <- min(expected)
    # revision 2 (the paper's rule): Pearson; else Yates for 2 x 2, exact Fisher for larger
    res$chosen_test <- if (!small) "chi_square" else if (is_2x2) "chi_square_yates" else "fisher_exact"
    res$chosen_p <- if (!small) cs$p.value else if (is_2x2) yp else fp
    # revision 1: Pearson; else exact Fisher
    res$chosen_test_r1 <- if (small) "fisher_exact" else "chi_square"
    res$chosen_p_r1 <- if (small) fp else cs$p.value
  }
  res
}

# ----------------------------------------------------------------------------- Table 1
table1 <- list(
  continuous = list(
    age_at_diagnosis_years = continuous_ref(co$age_at_diagnosis_years),
    max_tumor_size_cm = continuous_ref(co$max_tumor_size_cm)),
  categorical = list(
    sex = categorical_ref(co$sex, c("F", "M")),
    histology = categorical_ref(co$histology, c("PTC", "FTC", "other")),
    t_stage_group = categorical_ref(co$t_stage_group, c("T1+T2", "T3+T4")),
    n_stage_max = categorical_ref(co$n_stage_max, c("N0", "N1a", "N1b")),
    ata_risk = categorical_ref(co$ata_risk, c("low", "intermediate", "high", "unknown"), "unknown"),
    local_disease_status = categorical_ref(co$local_disease_status, c("neither", "local_recurrence", "local_persistent"),
                                           missing_codes = "unknown"),
    metastasis_timing = categorical_ref(co$metastasis_timing, c("synchronous", "metachronous"))))

# ----------------------------------------------------------------------------- Table 2
m_ids <- co$patient_id[is_m]
iv <- cy[cy$patient_id %in% m_ids & cy$cycle_number > 1, ]
iv_months <- iv$days_since_previous / MONTH_DAYS
iv_patient <- tapply(iv_months, iv$patient_id, median)

mm <- co[is_m, ]
fr <- match(mm$first_response, RESP)
lr <- match(mm$last_response, RESP)
okp <- !is.na(fr) & !is.na(lr)
pw <- wilcox.test(lr[okp], fr[okp], paired = TRUE, exact = FALSE, correct = TRUE)
present <- RESP[RESP %in% c(mm$first_response[okp], mm$last_response[okp])]
sq <- table(factor(mm$first_response[okp], levels = present), factor(mm$last_response[okp], levels = present))
k <- length(present)
d <- (rowSums(sq) - colSums(sq))[-k]
S <- matrix(0, k - 1, k - 1)
for (i in 1:(k - 1)) for (j in 1:(k - 1)) {
  S[i, j] <- if (i == j) rowSums(sq)[i] + colSums(sq)[i] - 2 * sq[i, i] else -(sq[i, j] + sq[j, i])
}
sm_stat <- drop(t(d) %*% solve(S) %*% d)

table2 <- list(
  continuous = list(
    median_activity_gbq = continuous_ref(co$median_activity_gbq),
    cumulative_gbq = continuous_ref(co$cumulative_gbq)),
  interval_pooled = q3(iv_months),
  interval_patient_median = q3(as.numeric(iv_patient)),
  categorical = list(
    first_response = categorical_ref(co$first_response, c(RESP, "NE"), "NE"),
    last_response = categorical_ref(co$last_response, c(RESP, "NE"), "NE")),
  paired = list(
    n_pairs = sum(okp), improved = sum(lr[okp] < fr[okp]), unchanged = sum(lr[okp] == fr[okp]),
    worsened = sum(lr[okp] > fr[okp]), not_evaluable = sum(!okp),
    V = unname(pw$statistic), wilcoxon_p = pw$p.value,
    sm_stat = sm_stat, sm_df = k - 1, sm_p = pchisq(sm_stat, k - 1, lower.tail = FALSE),
    categories = present))

# ----------------------------------------------------------------------------- Firth (hand-written)
log1pexp <- function(eta) pmax(eta, 0) + log1p(exp(-abs(eta)))
pen_loglik <- function(X, y, b) {
  eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  sum(y * eta - log1pexp(eta)) + 0.5 * as.numeric(determinant(crossprod(X, X * w))$modulus)
}
mod_score <- function(X, y, b) {
  p <- plogis(drop(X %*% b)); w <- p * (1 - p)
  info <- crossprod(X, X * w)
  XW <- X * sqrt(w)
  h <- rowSums((XW %*% solve(info)) * XW)
  list(U = drop(crossprod(X, y - p + h * (0.5 - p))), info = info)
}
firth_newton <- function(X, y, b, free = rep(TRUE, ncol(X))) {
  ll <- pen_loglik(X, y, b)
  for (it in 1:500) {
    s <- mod_score(X, y, b)
    step <- rep(0, length(b))
    step[free] <- solve(s$info[free, free, drop = FALSE], s$U[free])
    mx <- max(abs(step))
    if (mx > 5) step <- step * 5 / mx
    t <- 1
    repeat {
      nb <- b + t * step; nll <- pen_loglik(X, y, nb)
      if (nll >= ll - 1e-12 * max(1, abs(ll)) || t < 1e-12) break
      t <- t / 2
    }
    b <- nb; ll <- nll
    if (max(abs(t * step)) < 1e-11 && max(abs(s$U[free])) < 1e-8) return(list(b = b, ll = ll, conv = TRUE))
  }
  list(b = b, ll = ll, conv = FALSE)
}
firth <- function(X, y) {
  fit <- firth_newton(X, y, rep(0, ncol(X)))
  b <- fit$b; ll <- fit$ll
  se <- sqrt(diag(solve(mod_score(X, y, b)$info)))
  # numerical check: the modified score is the gradient of the penalised log-likelihood
  g <- sapply(seq_along(b), function(j) { e <- rep(0, length(b)); e[j] <- 1e-5
    (pen_loglik(X, y, b + e) - pen_loglik(X, y, b - e)) / 2e-5 })
  restricted <- function(j, v) { b0 <- b; b0[j] <- v; f <- rep(TRUE, length(b)); f[j] <- FALSE
    firth_newton(X, y, b0, f)$ll }
  q <- qchisq(0.95, 1)
  p <- lo <- hi <- numeric(length(b))
  for (j in seq_along(b)) {
    p[j] <- pchisq(max(2 * (ll - restricted(j, 0)), 0), 1, lower.tail = FALSE)
    f <- function(v) 2 * (ll - restricted(j, v)) - q
    for (dir in c(-1, 1)) {
      w <- 2 * max(se[j], 1e-3)
      while (f(b[j] + dir * w) < 0) w <- 2 * w
      r <- uniroot(f, sort(c(b[j], b[j] + dir * w)), tol = 1e-13, maxiter = 1000)$root
      if (dir < 0) lo[j] <- r else hi[j] <- r
    }
  }
  names(b) <- names(se) <- names(p) <- names(lo) <- names(hi) <- colnames(X)
  list(coef = b, se = se, p = p, ci_low = lo, ci_high = hi, loglik = ll, converged = fit$conv,
       max_abs_gradient_check = max(abs(g)))
}

# ----------------------------------------------------------------------------- Table 3
terms <- list(
  list(variable = "age_at_diagnosis", column = "age_at_diagnosis_years", kind = "cut"),
  list(variable = "sex", column = "sex", kind = "cat", ref = "M", levels = c("F", "M")),
  list(variable = "histology", column = "histology", kind = "cat", ref = "PTC", levels = c("PTC", "FTC", "other")),
  list(variable = "max_tumor_size_cm", column = "max_tumor_size_cm", kind = "cont"),
  list(variable = "t_stage_group", column = "t_stage_group", kind = "cat", ref = "T1+T2", levels = c("T1+T2", "T3+T4")),
  list(variable = "n_stage_max", column = "n_stage_max", kind = "cat", ref = "N0", levels = c("N0", "N1a", "N1b")),
  list(variable = "local_disease_status", column = "local_disease_status", kind = "cat", ref = "neither",
       levels = c("neither", "local_recurrence", "local_persistent")),
  list(variable = "metastasis_timing", column = "metastasis_timing", kind = "cat", ref = "metachronous",
       levels = c("synchronous", "metachronous")),
  list(variable = "rait_group", column = "rait_group", kind = "cat", ref = "o-RAIT", levels = GROUPS,
       family = "rait_exposure"),
  list(variable = "n_rait_cycles", column = "n_rait_cycles", kind = "cont", family = "rait_exposure"),
  list(variable = "cumulative_gbq", column = "cumulative_gbq", kind = "cont", family = "rait_exposure"))

design <- function(tl) {
  cols <- sapply(tl, `[[`, "column")
  ok <- complete.cases(co[, c(cols, "pfs_event"), drop = FALSE])
  d <- co[ok, , drop = FALSE]
  y <- d$pfs_event
  X <- matrix(1, nrow(d), 1, dimnames = list(NULL, "Intercept"))
  sep <- FALSE
  no_event <- FALSE  # a level without events: the Cox partial likelihood is monotone
  for (t in tl) {
    x <- d[[t$column]]
    if (t$kind == "cont") { X <- cbind(X, x); colnames(X)[ncol(X)] <- t$variable; next }
    if (t$kind == "cut") {
      x <- ifelse(x >= AGE_CUT, paste0(">=", AGE_CUT), paste0("<", AGE_CUT))
      levels <- c(paste0("<", AGE_CUT), paste0(">=", AGE_CUT)); ref <- levels[1]
    } else { levels <- t$levels; ref <- t$ref }
    present <- levels[levels %in% x]
    for (l in present) { e <- y[x == l]; if (sum(e) == 0 || sum(e) == length(e)) sep <- TRUE }
    for (l in present) if (sum(y[x == l]) == 0) no_event <- TRUE
    for (l in setdiff(present, ref)) { X <- cbind(X, as.numeric(x == l)); colnames(X)[ncol(X)] <- paste0(t$variable, "=", l) }
  }
  list(X = X, y = y, sep = sep, no_event = no_event, time = d$pfs_months)
}

fit_rows <- function(tl, method = c("auto", "ml", "firth")) {
  method <- match.arg(method)
  ds <- design(tl)
  X <- ds$X; y <- ds$y
  g <- suppressWarnings(glm(y ~ 0 + X, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100)))
  cf <- coef(g); names(cf) <- sub("^X", "", names(cf))
  # glm's vcov() is the covariance of the last-but-one IRLS iteration; take the inverse Fisher
  # information at the final estimate instead (what the Python layer reports).
  p_hat <- as.vector(plogis(X %*% coef(g)))
  info <- crossprod(X, X * (p_hat * (1 - p_hat)))
  se <- tryCatch(sqrt(diag(solve(info))), error = function(e) sqrt(diag(vcov(g))))
  names(se) <- names(cf)
  sep <- ds$sep || !g$converged || any(abs(cf[-1]) > 10) || any(se[-1] > 10)
  use_firth <- method == "firth" || (method == "auto" && sep)
  terms_out <- colnames(X)[-1]
  if (use_firth) {
    fm <- firth(X, y)
    rows <- lapply(terms_out, function(k) list(term = k, coef = fm$coef[[k]], se = fm$se[[k]],
      or = exp(fm$coef[[k]]), ci_low = exp(fm$ci_low[[k]]), ci_high = exp(fm$ci_high[[k]]), p_value = fm$p[[k]],
      method = "firth", n_obs = length(y), n_events = sum(y)))
  } else {
    z <- qnorm(0.975)
    pv <- summary(g)$coefficients[, 4]; names(pv) <- names(cf)
    ci <- confint.default(g); rownames(ci) <- names(cf)
    rows <- lapply(terms_out, function(k) list(term = k, coef = cf[[k]], se = se[[k]], or = exp(cf[[k]]),
      ci_low = exp(ci[k, 1]), ci_high = exp(ci[k, 2]), p_value = pv[[k]], method = "ml",
      n_obs = length(y), n_events = sum(y)))
  }
  list(rows = rows, separation = sep)
}

# univariable models, selection (p < THRESHOLD, first passing term of an exposure family) and the
# multivariable model; `fit` is fit_rows (logistic) or cox_rows (an unestimable model has p NA)
analyse <- function(tl, fit = fit_rows) {
  uni <- list(); sel <- character(0); fam <- character(0)
  for (t in tl) {
    r <- fit(list(t))
    for (row in r$rows) uni[[length(uni) + 1]] <- c(list(variable = t$variable), row)
    if (any(sapply(r$rows, function(x) x$p_value) < THRESHOLD, na.rm = TRUE)) {
      if (!is.null(t$family) && t$family %in% fam) next
      if (!is.null(t$family)) fam <- c(fam, t$family)
      sel <- c(sel, t$variable)
    }
  }
  chosen <- Filter(function(t) t$variable %in% sel, tl)
  multi <- if (length(chosen)) fit(chosen) else list(rows = list(), estimable = FALSE)
  list(univariable = uni, selected = sel, multivariable = multi$rows, multivariable_estimable = multi$estimable)
}

# ----------------------------------------------------------------------------- Table 3, Cox counterpart
# coxph(Surv(pfs_months, pfs_event) ~ terms, ties = "efron"), Wald CIs and p; a model with a level
# without events has no finite estimate (rows NA with a note); same selection rule as the logistic.
cox_rows <- function(tl) {
  ds <- design(tl)
  X <- ds$X[, -1, drop = FALSE]
  n <- length(ds$y); nev <- sum(ds$y)
  if (ds$no_event) {
    rows <- lapply(colnames(X), function(k) list(term = k, hr = NA, ci_low = NA, ci_high = NA, p_value = NA,
      coef = NA, se = NA, n_obs = n, n_events = nev, estimable = FALSE))
    return(list(rows = rows, estimable = FALSE))
  }
  fit <- coxph(Surv(ds$time, ds$y) ~ X, ties = "efron", control = coxph.control(eps = 1e-12, toler.chol = 1e-13, iter.max = 200))
  b <- coef(fit); se <- sqrt(diag(vcov(fit))); z <- qnorm(0.975)
  rows <- lapply(seq_along(b), function(j) list(term = colnames(X)[j], hr = exp(b[[j]]),
    ci_low = exp(b[[j]] - z * se[[j]]), ci_high = exp(b[[j]] + z * se[[j]]),
    p_value = 2 * pnorm(-abs(b[[j]] / se[[j]])), coef = b[[j]], se = se[[j]], n_obs = n, n_events = nev,
    estimable = TRUE))
  list(rows = rows, estimable = TRUE)
}

main <- analyse(terms)
sens_terms <- lapply(terms, function(t) if (t$kind == "cut") modifyList(t, list(kind = "cont")) else t)
sens <- analyse(sens_terms)
sens$univariable <- Filter(function(r) r$variable == "age_at_diagnosis", sens$univariable)
# every univariable model by both methods, for the Firth class on non-separated data too
uni_firth <- list(); uni_ml <- list()
for (t in terms) {
  for (row in fit_rows(list(t), "firth")$rows) uni_firth[[length(uni_firth) + 1]] <- c(list(variable = t$variable), row)
}

# a multivariable Firth case with separation (FTC has no event) for FirthLogisticRegression
fc <- design(terms[c(3, 7, 4)])
fcase <- firth(fc$X, fc$y)
firth_case <- list(columns = colnames(fc$X), terms = c("histology", "local_disease_status", "max_tumor_size_cm"),
  coef = unname(fcase$coef), se = unname(fcase$se), p = unname(fcase$p), ci_low = unname(fcase$ci_low),
  ci_high = unname(fcase$ci_high), loglik = fcase$loglik, converged = fcase$converged,
  max_abs_gradient_check = fcase$max_abs_gradient_check, n_obs = length(fc$y), n_events = sum(fc$y))

# small tables for the exact r x c Fisher test, including ones whose probabilities tie
fisher_tables <- list(
  matrix(c(1, 2, 3, 4, 0, 6, 2, 2, 9), 3, byrow = TRUE),
  matrix(c(16, 1, 0, 0, 19, 3, 1, 0, 3, 2, 5, 1), 3, byrow = TRUE),
  matrix(c(2, 2, 2, 2, 2, 2), 3, byrow = TRUE),
  matrix(c(3, 0, 0, 3, 0, 3, 1, 1), 4, byrow = TRUE),
  matrix(c(5, 1, 1, 1, 5, 1, 1, 1, 5), 3, byrow = TRUE),
  matrix(c(1, 0, 0, 1), 2, byrow = TRUE),
  matrix(c(10, 3, 2, 15), 2, byrow = TRUE))
fisher_cases <- lapply(fisher_tables, function(m) list(table = lapply(seq_len(nrow(m)), function(i) m[i, ]),
                                                       p = fisher.test(m)$p.value))

out <- list(
  meta = list(cohort = basename(cohort_path), cycles = basename(cycles_path), r_version = R.version.string,
              created = format(Sys.time(), "%Y-%m-%dT%H:%M:%S"), age_cut = AGE_CUT, threshold = THRESHOLD),
  cohort = list(n_eligible = nrow(co), n_o_rait = sum(is_o), n_m_rait = sum(is_m)),
  table1 = table1, table2 = table2,
  logistic = list(univariable = main$univariable, selected = main$selected, multivariable = main$multivariable,
                  univariable_firth = uni_firth,
                  sensitivity = list(univariable = sens$univariable, selected = sens$selected,
                                     multivariable = sens$multivariable)),
  cox = analyse(terms, cox_rows),
  firth_case = firth_case,
  fisher_cases = fisher_cases)
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
write_json(out, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null")
cat("wrote", out_path, "\n")
