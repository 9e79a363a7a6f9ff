#!/usr/bin/env Rscript
# Reference values for the Statistics III fixes from R (survival 3.5, MatchIt >= 4.5.4):
# matched analyses that use the pairs, the subgroup interaction tests, the baseline balance, and
# the proportional-hazards test (cox.zph) of every kind of Cox model the analysis reports.
#
# Usage (paths are arguments; nothing is hard-wired):
#   R_LIBS=<library with MatchIt >= 4.5.4> Rscript tests/r/stats3_references.R cohort \
#       COHORT.csv BEYOND.json OUT.json
#   Rscript tests/r/stats3_references.R rossi ROSSI.csv OUT.json
#   Rscript tests/r/stats3_references.R waltons WALTONS.csv OUT.json
#
# Needs MatchIt >= 4.5.4 for the cohort mode: Debian's MatchIt 4.5.1 ignores the caliper in
# method = "nearest" (fixed upstream in 4.5.4). The committed references were made with R 4.2.2,
# survival 3.5.3 and MatchIt 4.7.2 built from source into a private library, from the repository
# root:
#   for c in frozen_cohort:beyond_frozen_cohort frozen_demo:beyond_demo; do
#     R_LIBS=/path/to/rlib Rscript tests/r/stats3_references.R cohort \
#       tests/data/${c%%:*}/analysis_cohort.csv tests/data/r_reference/${c##*:}.json \
#       tests/data/r_reference/stats3_${c%%:*}.json; done
#   Rscript tests/r/stats3_references.R rossi tests/data/lifelines_rossi.csv \
#       tests/data/r_reference/stats3_rossi.json
#   Rscript tests/r/stats3_references.R waltons tests/data/lifelines_waltons.csv \
#       tests/data/r_reference/stats3_waltons.json
# Rerun the cohort commands when the frozen cohorts or tests/r/beyond_references.R's counting
# process (read from BEYOND.json) change.
#
# cohort: an analysis_cohort CSV (docs/specification.md section 3), data in patient_id byte order.
#   * matching as the study (MatchIt's vector path: glm on age, local persistent disease and
#     follow-up, caliper 0.05 on the propensity, m.order = "largest"); m = m-RAIT indicator;
#   * fixed:      coxph(Surv(pfs_months, pfs_event) ~ m) on the eligible cohort;
#   * matched:    coxph(... ~ m, cluster = pair) on the matched cohort (robust SE);
#   * stratified: coxph(... ~ m + strata(pair));
#   * weighted:   coxph(... ~ m, weights = w, robust = TRUE), w the stabilised ATE weights of
#                 glm(o-RAIT ~ age + local persistent) on the complete cases (the IPTW analysis);
#   * subgroups:  the Fig. 4 panels of the matched cohort with two groups: coxph(... ~ group);
#                 interaction tests: 2 (loglik(group * factor) - loglik(group + factor)) for the
#                 factors age group (>= 45), tumour size group (> 4 cm), local disease status (3
#                 levels) and local persistent disease (yes/no), only when every group-by-level
#                 cell has an event (else the model has no finite estimate: null);
#   * time-varying: the counting-process rows of BEYOND.json (tests/r/beyond_references.R,
#                 tmerge): coxph(Surv(start, stop, event) ~ m_rait) and ~ m_rait + age +
#                 local persistent;
#   * spline:     ns(cumulative_gbq, knots = quantile(x, 1:2/3), Boundary.knots = range of the
#                 total and the counting-process doses) + age + local persistent, time-fixed on
#                 the complete cases and time-varying on their counting-process rows;
#   * balance:    per Table 1 characteristic (level), the SMD of MatchIt's summary (ATT:
#                 (mean focal - mean control) / SD of all focal units before matching), over the
#                 patients with a known value (ATA "unknown" and null are missing); checked
#                 against summary(matchit, addlvariables = ...) where nothing is missing.
# rossi / waltons: lifelines' public data (tests/data/lifelines_*.csv, see stats2_references.R).
#   rossi: fixed (fin + age + prio + race), weighted (w = 1 + (prio %% 3) / 2, robust),
#   stratified (strata(wexp)), spline (ns(age, 3 df) + fin), counting process (survSplit at
#   weeks 10, 20, 30; late = fin x (episode >= 3)), and a matched cohort (MatchIt, focal fin = 1,
#   age + prio + wexp + mar, caliper 0.05) with cluster = pair and strata(pair);
#   waltons: fixed (group), heavily tied times.
# Every cox.zph is transform = "km", terms = TRUE, global = TRUE: {terms: [{term, chisq, df, p}],
# global: {chisq, df, p}}. Cox fits: Efron ties, eps = 1e-12.
#
# Output: JSON with 15 significant digits; NA -> null.

suppressPackageStartupMessages({
  library(survival)
  library(splines)
  library(jsonlite)
})

CTRL <- coxph.control(eps = 1e-12, iter.max = 200, toler.chol = 1e-13)
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: see the header of this script")

num <- function(x) if (length(x) == 0 || is.na(x)) NULL else unname(x)

zph <- function(fit) {
  tb <- cox.zph(fit, transform = "km", terms = TRUE, global = TRUE)$table
  rows <- rownames(tb)
  terms <- lapply(setdiff(rows, "GLOBAL"), function(r) list(term = r, chisq = tb[r, "chisq"], df = tb[r, "df"],
                                                          p = tb[r, "p"]))
  list(terms = terms, global = list(chisq = tb["GLOBAL", "chisq"], df = tb["GLOBAL", "df"], p = tb["GLOBAL", "p"]))
}

hr_of <- function(fit, name, robust = FALSE) {
  b <- unname(coef(fit)[name])
  se <- sqrt(unname(vcov(fit)[name, name]))  # the robust variance when the fit has one
  z <- qnorm(0.975)
  s <- summary(fit)$coefficients
  list(hr = exp(b), ci_low = exp(b - z * se), ci_high = exp(b + z * se), p = unname(s[name, ncol(s)]),
       log_hr = b, se_log_hr = se)
}

cox <- function(formula, data) coxph(formula, data = data, ties = "efron", control = CTRL, model = TRUE)

model <- function(fit, name = NULL) {
  out <- list(zph = zph(fit), loglik = fit$loglik[2])
  if (!is.null(name)) out$hr <- hr_of(fit, name)
  out
}

# MatchIt's vector path on rows in data order; returns the pair index of each row (NA unmatched)
match_pairs <- function(d, focal, covs, caliper) {
  if (packageVersion("MatchIt") < "4.5.4") {
    stop("MatchIt >= 4.5.4 is needed (4.5.1 ignores the caliper in method = 'nearest'); set R_LIBS")
  }
  suppressPackageStartupMessages(library(MatchIt))
  dd <- d
  dd$treat__ <- as.integer(focal)
  rownames(dd) <- seq_len(nrow(dd))
  f <- reformulate(covs, response = "treat__")
  g <- glm(f, data = dd, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
  X <- model.matrix(f, dd)
  b <- coef(g)
  eta <- rep(b[1], nrow(dd))
  for (j in 2:ncol(X)) eta <- eta + X[, j] * b[j]
  p <- unname(exp(eta) / (1 + exp(eta)))
  m <- suppressWarnings(matchit(f, data = dd, distance = p, method = "nearest", m.order = "largest",
                                caliper = caliper, std.caliper = FALSE, replace = FALSE))
  mm <- m$match.matrix
  pair <- rep(NA_integer_, nrow(dd))
  ok <- which(!is.na(mm[, 1]))
  for (k in seq_along(ok)) {
    pair[as.integer(rownames(mm)[ok[k]])] <- k
    pair[as.integer(mm[ok[k], 1])] <- k
  }
  list(pair = pair, m = m)
}

interaction <- function(d, factor_values) {
  keep <- !is.na(factor_values)
  d <- d[keep, ]
  d$f <- factor(factor_values[keep])
  cells <- tapply(d$pfs_event, list(d$m, d$f), sum)
  if (nlevels(d$f) < 2 || any(is.na(cells)) || any(cells == 0)) return(list(testable = FALSE))
  main <- cox(Surv(pfs_months, pfs_event) ~ m + f, d)
  full <- cox(Surv(pfs_months, pfs_event) ~ m * f, d)
  stat <- 2 * (full$loglik[2] - main$loglik[2])
  df <- nlevels(d$f) - 1
  list(testable = TRUE, chi2 = stat, df = df, p = pchisq(stat, df, lower.tail = FALSE), n = nrow(d),
       events = sum(d$pfs_event))
}

smd_rows <- function(d, focal, matched) {
  chars <- list(
    list(v = "age_at_diagnosis_years", kind = "continuous"),
    list(v = "sex", levels = c("F", "M")),
    list(v = "histology", levels = c("PTC", "FTC", "other")),
    list(v = "max_tumor_size_cm", kind = "continuous"),
    list(v = "t_stage_group", levels = c("T1+T2", "T3+T4")),
    list(v = "n_stage_max", levels = c("N0", "N1a", "N1b")),
    list(v = "ata_risk", levels = c("low", "intermediate", "high")),
    list(v = "local_disease_status", levels = c("neither", "local_recurrence", "local_persistent")),
    list(v = "metastasis_timing", levels = c("synchronous", "metachronous"))
  )
  smd <- function(x, f, sel, binary) {
    x1 <- x[sel & f]; x0 <- x[sel & !f]
    diff <- mean(x1) - mean(x0)
    if (abs(diff) < sqrt(.Machine$double.eps)) return(diff)
    xf <- x[f]
    s <- if (binary) sqrt(mean(xf) * (1 - mean(xf))) else sd(xf)
    if (s < sqrt(.Machine$double.eps)) {  # MatchIt's pooled SD (proportional contributions)
      n <- length(x)
      s <- if (binary) sqrt(sum(sapply(list(x[f], x[!f]), function(g) sum(g) * (1 - sum(g) / length(g)))) / n)
           else sqrt(sum(c(x[f] - mean(x[f]), x[!f] - mean(x[!f]))^2) / (n - 1))
    }
    diff / s
  }
  out <- list()
  for (ch in chars) {
    x <- d[[ch$v]]
    if (!is.null(ch$kind)) {
      known <- !is.na(x)
      series <- list(list(level = NULL, x = as.numeric(x), binary = FALSE))
    } else {
      known <- !is.na(x) & x %in% ch$levels
      series <- lapply(ch$levels, function(l) list(level = l, x = as.numeric(!is.na(x) & x == l), binary = TRUE))
    }
    for (s in series) {
      xk <- s$x[known]; fk <- focal[known]; mk <- matched[known]
      out[[length(out) + 1]] <- list(covariate = ch$v, level = s$level,
                                     smd_before = smd(xk, fk, rep(TRUE, length(xk)), s$binary),
                                     smd_after = smd(xk, fk, mk, s$binary))
    }
  }
  out
}

write_out <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = I(15), na = "null", null = "null", pretty = TRUE)
}

provenance <- function() {
  list(R = R.version.string, survival = as.character(packageVersion("survival")),
       MatchIt = if (requireNamespace("MatchIt", quietly = TRUE)) as.character(packageVersion("MatchIt")) else NULL,
       script = "tests/r/stats3_references.R")
}

mode <- args[1]

if (mode == "cohort") {
  d <- read.csv(args[2], stringsAsFactors = FALSE, na.strings = "", colClasses = c(patient_id = "character"))
  d <- d[order(d$patient_id, method = "radix"), ]
  rownames(d) <- NULL
  beyond <- fromJSON(args[3], simplifyVector = TRUE)
  d$local_persistent <- as.numeric(d$local_disease_status == "local_persistent")
  d$local_persistent_disease <- d$local_persistent
  d$m <- as.numeric(d$rait_group == "m-RAIT")
  focal <- d$rait_group == "o-RAIT"
  mt <- match_pairs(d, focal, c("age_at_diagnosis_years", "local_persistent_disease", "follow_up_months"), 0.05)
  d$pair <- mt$pair
  md <- d[!is.na(d$pair), ]

  # balance: check the hand formula against MatchIt's summary where no value is missing
  bal <- smd_rows(d, focal, !is.na(d$pair))
  full <- c("age_at_diagnosis_years", "sex", "histology", "t_stage_group", "metastasis_timing")
  full <- full[sapply(full, function(v) !anyNA(d[[v]]))]
  sm <- summary(mt$m, addlvariables = d[, full], standardize = TRUE)
  for (r in bal) {
    if (!(r$covariate %in% full)) next
    key <- if (is.null(r$level)) r$covariate else paste0(r$covariate, r$level)
    if (!(key %in% rownames(sm$sum.all))) next
    stopifnot(isTRUE(all.equal(r$smd_before, unname(sm$sum.all[key, "Std. Mean Diff."]), tolerance = 1e-10)))
    stopifnot(isTRUE(all.equal(r$smd_after, unname(sm$sum.matched[key, "Std. Mean Diff."]), tolerance = 1e-10)))
  }

  fixed <- cox(Surv(pfs_months, pfs_event) ~ m, d)
  matched <- coxph(Surv(pfs_months, pfs_event) ~ m, data = md, cluster = pair, ties = "efron", control = CTRL, model = TRUE)
  strat <- cox(Surv(pfs_months, pfs_event) ~ m + strata(pair), md)

  cc <- complete.cases(d[, c("age_at_diagnosis_years", "local_persistent", "cumulative_gbq")])
  dc <- d[cc, ]
  o <- as.integer(dc$rait_group == "o-RAIT")
  g <- glm(o ~ age_at_diagnosis_years + local_persistent, data = dc, family = binomial,
           control = glm.control(epsilon = 1e-14, maxit = 100))
  e <- fitted(g)
  dc$w <- ifelse(o == 1, mean(o) / e, (1 - mean(o)) / (1 - e))
  weighted <- coxph(Surv(pfs_months, pfs_event) ~ m, data = dc, weights = w, robust = TRUE, ties = "efron", model = TRUE,
                    control = CTRL)

  # Fig. 4 panels with two groups (no minimum size here) and the interaction tests
  age_grp <- ifelse(is.na(md$age_at_diagnosis_years), NA, ifelse(md$age_at_diagnosis_years >= 45, "ge", "lt"))
  size_grp <- ifelse(is.na(md$max_tumor_size_cm), NA, ifelse(md$max_tumor_size_cm > 4, "gt", "le"))
  known_local <- md$local_disease_status %in% c("neither", "local_recurrence", "local_persistent")
  local <- ifelse(known_local, md$local_disease_status, NA)
  persistent <- ifelse(known_local, md$local_disease_status == "local_persistent", NA)
  panel <- function(keep, x) {
    s <- md[keep & !is.na(x), ]
    s$x <- x[keep & !is.na(x)]
    ev <- tapply(s$pfs_event, s$x, sum)
    if (length(ev) < 2 || any(ev == 0)) return(NULL)
    model(cox(Surv(pfs_months, pfs_event) ~ x, s), "x")
  }
  everyone <- rep(TRUE, nrow(md))
  subgroups <- list(
    age = panel(everyone, as.numeric(age_grp == "ge")),
    tumour_size = panel(everyone, as.numeric(size_grp == "gt")),
    rait_group_in_age_ge_45 = panel(!is.na(age_grp) & age_grp == "ge", md$m),
    rait_group_in_tumour_gt_4cm = panel(!is.na(size_grp) & size_grp == "gt", md$m),
    rait_group_in_local_persistent = panel(!is.na(persistent) & persistent, md$m)
  )
  interactions <- list(
    age = interaction(md, age_grp),
    tumour_size = interaction(md, size_grp),
    local_disease_status = interaction(md, local),
    local_persistent = interaction(md, persistent)
  )

  cp <- as.data.frame(beyond$counting_process)
  cp <- merge(cp, d[, c("patient_id", "age_at_diagnosis_years", "local_persistent", "cumulative_gbq")],
              by = "patient_id", suffixes = c("", ".total"))
  tv <- cox(Surv(start, stop, event) ~ m_rait, cp)
  tv_adj <- cox(Surv(start, stop, event) ~ m_rait + age_at_diagnosis_years + local_persistent, cp)

  cpc <- cp[cp$patient_id %in% dc$patient_id, ]
  inner <- quantile(dc$cumulative_gbq, probs = (1:2) / 3, names = FALSE, type = 7)
  bnd <- range(c(dc$cumulative_gbq, cpc$cumulative_gbq))
  dc$B <- unclass(ns(dc$cumulative_gbq, knots = inner, Boundary.knots = bnd))[, 1:3]
  cpc$B <- unclass(ns(cpc$cumulative_gbq, knots = inner, Boundary.knots = bnd))[, 1:3]
  spline_fixed <- cox(Surv(pfs_months, pfs_event) ~ B + age_at_diagnosis_years + local_persistent, dc)
  spline_tv <- cox(Surv(start, stop, event) ~ B + age_at_diagnosis_years + local_persistent, cpc)

  out <- list(
    provenance = provenance(),
    input = basename(args[2]),
    counting_process_from = basename(args[3]),
    pairs = unname(lapply(sort(unique(md$pair)), function(k) md$patient_id[md$pair == k])),
    balance = bal,
    fixed = model(fixed, "m"),
    matched = model(matched, "m"),
    stratified = model(strat, "m"),
    weighted = c(model(weighted, "m"), list(n = nrow(dc))),
    subgroups = subgroups,
    interactions = interactions,
    time_varying = model(tv, "m_rait"),
    time_varying_adjusted = model(tv_adj, "m_rait"),
    spline_time_fixed = model(spline_fixed),
    spline_time_varying = model(spline_tv),
    spline_knots = list(interior = inner, boundary = bnd)
  )
  write_out(out, args[4])

} else if (mode == "rossi") {
  d <- read.csv(args[2], stringsAsFactors = FALSE, colClasses = c(id = "character"))
  d <- d[order(d$id, method = "radix"), ]
  rownames(d) <- NULL
  d$w <- 1 + (d$prio %% 3) / 2
  fixed <- coxph(Surv(week, arrest) ~ fin + age + prio + race, data = d, ties = "efron", control = CTRL, model = TRUE)
  weighted <- coxph(Surv(week, arrest) ~ fin + age, data = d, weights = w, robust = TRUE, ties = "efron", model = TRUE,
                    control = CTRL)
  strat <- coxph(Surv(week, arrest) ~ fin + age + strata(wexp), data = d, ties = "efron", control = CTRL, model = TRUE)
  inner <- quantile(d$age, probs = (1:2) / 3, names = FALSE, type = 7)
  d$A <- unclass(ns(d$age, knots = inner, Boundary.knots = range(d$age)))[, 1:3]
  spline <- coxph(Surv(week, arrest) ~ A + fin, data = d, ties = "efron", control = CTRL, model = TRUE)
  s <- survSplit(Surv(week, arrest) ~ ., data = d[, c("id", "week", "arrest", "fin", "age")],
                 cut = c(10, 20, 30), episode = "ep")
  s$late <- as.numeric(s$ep >= 3) * s$fin
  tv <- coxph(Surv(tstart, week, arrest) ~ fin + age + late, data = s, ties = "efron", control = CTRL, model = TRUE)
  mt <- match_pairs(d, d$fin == 1, c("age", "prio", "wexp", "mar"), 0.05)
  d$pair <- mt$pair
  md <- d[!is.na(d$pair), ]
  matched <- coxph(Surv(week, arrest) ~ fin, data = md, cluster = pair, ties = "efron", control = CTRL, model = TRUE)
  mstrat <- coxph(Surv(week, arrest) ~ fin + strata(pair), data = md, ties = "efron", control = CTRL, model = TRUE)
  out <- list(
    provenance = provenance(),
    input = basename(args[2]),
    fixed = model(fixed, "fin"),
    weighted = model(weighted, "fin"),
    stratified = model(strat, "fin"),
    spline = c(model(spline), list(interior_knots = inner)),
    counting_process = c(model(tv, "late"), list(cut = c(10, 20, 30))),
    matched_pairs = unname(lapply(sort(unique(md$pair)), function(k) md$id[md$pair == k])),
    matched = model(matched, "fin"),
    matched_stratified = model(mstrat, "fin")
  )
  write_out(out, args[3])

} else if (mode == "waltons") {
  d <- read.csv(args[2], stringsAsFactors = FALSE)
  d$x <- as.numeric(d$group == "miR-137")
  fit <- coxph(Surv(T, E) ~ x, data = d, ties = "efron", control = CTRL, model = TRUE)
  write_out(list(provenance = provenance(), input = basename(args[2]), fixed = model(fit, "x")), args[3])

} else {
  stop("unknown mode ", mode, "; see the header of this script")
}
