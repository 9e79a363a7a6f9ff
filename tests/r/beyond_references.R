#!/usr/bin/env Rscript
# Reference values for rait_registry.analysis.sensitivity (landmark, time-varying Cox with and
# without the exposure lag, IPTW, 5-year PFS difference, cumulative-dose splines) from R survival.
#
# Usage (paths are arguments; nothing is hard-wired):
#   Rscript tests/r/beyond_references.R cohort COHORT.csv CYCLES.csv OUT.json \
#       [landmark=12] [horizon=60] [ref=5.55] [df=3] [grid=25] [lag=14]
#   Rscript tests/r/beyond_references.R toy IN.json OUT.json [lag=14]
#
# cohort: the marts analysis_cohort and rait_cycles (docs/specification.md section 3) as CSV.
# toy:    a JSON {cohort: [{patient_id, rait_group, pfs_months, pfs_event}], cycles: [{patient_id,
#         cycle_number, admin_date, activity_gbq, cumulative_gbq}]}; only the counting-process
#         rows and the unadjusted time-varying Cox models are computed.
#
# Definitions (the same as the Python module, derived here independently):
# * time in months = days / 30.4375 from the patient's first admin_date; a cycle within half a
#   day of the end of PFS follow-up counts as given on that day; in the counting process a
#   pfs_months within 0.01 day of a whole number of days is put on the day grid (days / 30.4375);
# * exposure lag (the refresh's rxwbs_window_days, 14 days by default): every cycle after the
#   first changes the exposure at t = (days + lag) / 30.4375 (its post-therapy scan evaluates the
#   cycle before it), the first at 0; a change within half a day of the end of PFS follow-up
#   counts as on that day (and changes nothing);
# * counting process from tmerge: ev = event(pfs_months, pfs_event); n_cycles = cumtdc(t);
#   cumulative_gbq = cumtdc(t, activity_gbq); m_rait = tdc(t of cycle 2), tdcstart = 0; an event
#   on the day of a change stays with the exposure before it (tmerge's (start, stop] intervals);
#   computed with the lag (`counting_process`, `time_varying`, the time-varying dose model) and
#   without it (`counting_process_unlagged`, `time_varying_unlagged`);
# * Cox: coxph, Efron ties, eps = 1e-12; robust SE for IPTW from coxph(robust = TRUE);
# * landmark L: patients with pfs_months > L, grouped by the number of cycles with
#   days since the first RAIT (+ lag for every cycle after the first, as the exposure change of
#   the time-varying models) <= L * 30.4375 (>= 2 -> m-RAIT), time pfs_months - L;
# * IPTW: glm(o-RAIT ~ age + local persistent), stabilised ATE weights;
# * 5-year PFS: summary(survfit, times = h)$surv and $std.err (Greenwood, survival scale);
# * dose: ns(x, knots = quantile(total dose, (1:(df-1))/df), Boundary.knots = range of all
#   dose values used), HR curve exp((B(d) - B(ref)) beta) on the grid
#   seq(q05, q95, length.out = grid) plus ref.
#
# Output: JSON with 15 significant digits; NA -> null.
#
# The committed references were made with (from the repository root):
#   Rscript tests/r/beyond_references.R cohort tests/data/frozen_cohort/analysis_cohort.csv \
#       tests/data/frozen_cohort/rait_cycles.csv tests/data/r_reference/beyond_frozen_cohort.json
#   Rscript tests/r/beyond_references.R cohort tests/data/frozen_demo/analysis_cohort.csv \
#       tests/data/frozen_demo/rait_cycles.csv tests/data/r_reference/beyond_demo.json
#   Rscript tests/r/beyond_references.R toy tests/data/r_reference/beyond_toy_input.json \
#       tests/data/r_reference/beyond_toy.json
#   Rscript tests/r/beyond_references.R toy tests/data/r_reference/lag_toy_input.json \
#       tests/data/r_reference/lag_toy.json

suppressPackageStartupMessages({
  library(survival)
  library(splines)
  library(jsonlite)
})

DPM <- 30.4375
CTRL <- coxph.control(eps = 1e-12, iter.max = 200, toler.chol = 1e-13)

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: see the header of this script")

kv <- function(a) {
  out <- list()
  for (x in a) {
    p <- strsplit(x, "=", fixed = TRUE)[[1]]
    out[[p[1]]] <- as.numeric(paste(p[-1], collapse = "="))
  }
  out
}

num <- function(x) if (length(x) == 0 || is.na(x)) NULL else unname(x)

term <- function(fit, name, robust = FALSE) {
  b <- unname(coef(fit)[name])
  se <- if (robust) unname(sqrt(diag(fit$var))[match(name, names(coef(fit)))]) else
    unname(sqrt(diag(vcov(fit)))[match(name, names(coef(fit)))])
  z <- qnorm(0.975)
  s <- summary(fit)$coefficients
  list(hr = exp(b), ci_low = exp(b - z * se), ci_high = exp(b + z * se), log_hr = b, se_log_hr = se,
       p = unname(s[name, ncol(s)]))
}

on_day_grid <- function(m) {
  d <- m * DPM
  ifelse(abs(d - round(d)) < 0.01, round(d) / DPM, m)
}

cycle_times <- function(cohort, cycles, lag = 0) {
  cycles <- cycles[cycles$patient_id %in% cohort$patient_id, ]
  cycles$admin_date <- as.Date(cycles$admin_date)
  first <- tapply(cycles$admin_date, cycles$patient_id, min)
  cycles$days <- as.numeric(cycles$admin_date - as.Date(first[cycles$patient_id], origin = "1970-01-01"))
  cycles$t <- (cycles$days + ifelse(cycles$cycle_number > 1, lag, 0)) / DPM
  T <- on_day_grid(cohort$pfs_months[match(cycles$patient_id, cohort$patient_id)])
  cycles$t <- ifelse(abs(cycles$t - T) < 0.5 / DPM, T, cycles$t)
  cycles[order(cycles$patient_id, cycles$cycle_number, method = "radix"), ]
}

counting_process <- function(cohort, cycles, keep = character(0)) {
  base <- cohort[cohort$pfs_months > 0, c("patient_id", "pfs_months", "pfs_event", keep)]
  base$pfs_months <- on_day_grid(base$pfs_months)
  # (tmerge needs a data1 with more than the id column, hence .one)
  tv <- tmerge(cbind(base[, c("patient_id", keep), drop = FALSE], .one = 1), base, id = patient_id,
               event = event(pfs_months, pfs_event))
  tv <- tmerge(tv, cycles, id = patient_id, n_cycles = cumtdc(t), cumulative_gbq = cumtdc(t, activity_gbq))
  c2 <- cycles[cycles$cycle_number == 2, ]
  tv <- tmerge(tv, c2, id = patient_id, m_rait = tdc(t), options = list(tdcstart = 0))
  tv$.one <- NULL
  tv[order(tv$patient_id, tv$tstart, method = "radix"), ]
}

tv_models <- function(tv, adjusted = FALSE) {
  out <- list()
  f1 <- coxph(Surv(tstart, tstop, event) ~ m_rait, data = tv, ties = "efron", control = CTRL)
  out$m_rait_status <- term(f1, "m_rait")
  f2 <- coxph(Surv(tstart, tstop, event) ~ n_cycles, data = tv, ties = "efron", control = CTRL)
  out$cycles_received <- term(f2, "n_cycles")
  if (adjusted) {
    f3 <- coxph(Surv(tstart, tstop, event) ~ m_rait + age_at_diagnosis_years + local_persistent,
                data = tv, ties = "efron", control = CTRL)
    out$m_rait_status_adjusted <- term(f3, "m_rait")
  }
  out
}

rows_of <- function(tv) {
  list(patient_id = tv$patient_id, start = tv$tstart, stop = tv$tstop, event = tv$event,
       n_cycles = tv$n_cycles, m_rait = tv$m_rait, cumulative_gbq = tv$cumulative_gbq)
}

km_at <- function(time, event, h, weights = NULL) {
  if (is.null(weights)) weights <- rep(1, length(time))
  if (max(time) < h) return(list(surv = NULL, se = NULL))
  s <- summary(survfit(Surv(time, event) ~ 1, weights = weights), times = h)
  list(surv = num(s$surv), se = num(s$std.err))
}

landmark <- function(cohort, cycles, L, horizon, lag = 0) {
  counts_from <- cycles$days + ifelse(cycles$cycle_number > 1, lag, 0)
  by_lm <- tapply(counts_from <= L * DPM + 1e-9, cycles$patient_id, sum)
  d <- cohort[cohort$pfs_months - L > 1e-9, ]
  d$k <- as.numeric(by_lm[d$patient_id])
  d$m <- as.integer(d$k >= 2)
  d$time <- d$pfs_months - L
  out <- list(landmark_months = L, n_at_landmark = nrow(d), n_o_rait = sum(d$m == 0), n_m_rait = sum(d$m == 1),
              events = sum(d$pfs_event), patient_ids = d$patient_id[order(d$patient_id, method = "radix")],
              m_rait = d$m[order(d$patient_id, method = "radix")])
  sd <- survdiff(Surv(time, pfs_event) ~ m, data = d)
  out$logrank_chi2 <- sd$chisq
  out$logrank_p <- pchisq(sd$chisq, 1, lower.tail = FALSE)
  fit <- coxph(Surv(time, pfs_event) ~ m, data = d, ties = "efron", control = CTRL)
  out$cox <- term(fit, "m")
  fa <- coxph(Surv(time, pfs_event) ~ m + age_at_diagnosis_years + local_persistent, data = d,
              ties = "efron", control = CTRL)
  out$cox_adjusted <- term(fa, "m")
  h <- horizon - L
  out$pfs_o_rait <- km_at(d$time[d$m == 0], d$pfs_event[d$m == 0], h)
  out$pfs_m_rait <- km_at(d$time[d$m == 1], d$pfs_event[d$m == 1], h)
  out
}

dose_models <- function(cohort, tv, ref, df, grid_n) {
  x <- cohort$cumulative_gbq
  inner <- quantile(x, probs = (1:(df - 1)) / df, names = FALSE, type = 7)
  bnd <- range(c(x, tv$cumulative_gbq))
  q <- quantile(x, c(0.05, 0.95), names = FALSE, type = 7)
  grid <- sort(unique(c(seq(q[1], q[2], length.out = grid_n), ref)))
  basis <- function(v) ns(v, knots = inner, Boundary.knots = bnd)
  D <- basis(grid) - matrix(basis(ref), nrow = length(grid), ncol = df, byrow = TRUE)
  one <- function(fit_lin, fit_sp, fit_adj) {
    b <- coef(fit_sp)[1:df]
    V <- vcov(fit_sp)[1:df, 1:df]
    lp <- as.vector(D %*% b)
    se <- sqrt(rowSums((D %*% V) * D))
    z <- qnorm(0.975)
    list(linear = term(fit_lin, "dose"),
         nonlinearity_chi2 = 2 * (fit_sp$loglik[2] - fit_lin$loglik[2]),
         overall_chi2 = 2 * (fit_sp$loglik[2] - fit_adj$loglik[2]),
         curve = list(gbq = grid, hr = exp(lp), ci_low = exp(lp - z * se), ci_high = exp(lp + z * se)))
  }
  fx <- data.frame(time = cohort$pfs_months, event = cohort$pfs_event, dose = x,
                   age_at_diagnosis_years = cohort$age_at_diagnosis_years, local_persistent = cohort$local_persistent)
  fx$B <- unclass(basis(fx$dose))[, 1:df, drop = FALSE]
  fixed <- one(
    coxph(Surv(time, event) ~ dose + age_at_diagnosis_years + local_persistent, data = fx, ties = "efron", control = CTRL),
    coxph(Surv(time, event) ~ B + age_at_diagnosis_years + local_persistent, data = fx, ties = "efron", control = CTRL),
    coxph(Surv(time, event) ~ age_at_diagnosis_years + local_persistent, data = fx, ties = "efron", control = CTRL))
  tv$dose <- tv$cumulative_gbq
  tv$B <- unclass(basis(tv$dose))[, 1:df, drop = FALSE]
  varying <- one(
    coxph(Surv(tstart, tstop, event) ~ dose + age_at_diagnosis_years + local_persistent, data = tv, ties = "efron", control = CTRL),
    coxph(Surv(tstart, tstop, event) ~ B + age_at_diagnosis_years + local_persistent, data = tv, ties = "efron", control = CTRL),
    coxph(Surv(tstart, tstop, event) ~ age_at_diagnosis_years + local_persistent, data = tv, ties = "efron", control = CTRL))
  list(interior_knots = inner, boundary_knots = bnd, time_fixed = fixed, time_varying = varying)
}

iptw <- function(cohort, horizon) {
  o <- as.integer(cohort$rait_group == "o-RAIT")
  g <- glm(o ~ age_at_diagnosis_years + local_persistent, data = cohort, family = binomial,
           control = glm.control(epsilon = 1e-14, maxit = 100))
  e <- fitted(g)
  p1 <- mean(o)
  w <- ifelse(o == 1, p1 / e, (1 - p1) / (1 - e))
  m <- 1 - o
  fit <- coxph(Surv(pfs_months, pfs_event) ~ m, data = cohort, weights = w, robust = TRUE, ties = "efron", control = CTRL)
  list(patient_id = cohort$patient_id, weights = unname(w), cox = term(fit, "m", robust = TRUE),
       naive_se_log_hr = unname(sqrt(fit$naive.var[1, 1])),
       pfs_o_rait = km_at(cohort$pfs_months[o == 1], cohort$pfs_event[o == 1], horizon, w[o == 1]),
       pfs_m_rait = km_at(cohort$pfs_months[o == 0], cohort$pfs_event[o == 0], horizon, w[o == 0]))
}

write_out <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = I(15), na = "null", null = "null", pretty = TRUE)
}

events_by_exposure <- function(tv) {
  list(`o-RAIT` = sum(tv$event == 1 & tv$m_rait == 0), `m-RAIT` = sum(tv$event == 1 & tv$m_rait == 1))
}

mode <- args[1]
if (mode == "cohort") {
  opt <- modifyList(list(landmark = 12, horizon = 60, ref = 5.55, df = 3, grid = 25, lag = 14), kv(args[-(1:4)]))
  cohort <- read.csv(args[2], stringsAsFactors = FALSE)
  cycles <- read.csv(args[3], stringsAsFactors = FALSE)
  cohort <- cohort[order(cohort$patient_id, method = "radix"), ]
  cohort$local_persistent <- as.integer(cohort$local_disease_status == "local_persistent")
  cc <- complete.cases(cohort[, c("age_at_diagnosis_years", "local_persistent", "cumulative_gbq")])
  cyc <- cycle_times(cohort, cycles)
  keep <- c("age_at_diagnosis_years", "local_persistent")
  tv <- counting_process(cohort, cycle_times(cohort, cycles, opt$lag), keep = keep)
  tv0 <- counting_process(cohort, cyc, keep = keep)
  o <- cohort$rait_group == "o-RAIT"
  fixed_fit <- coxph(Surv(pfs_months, pfs_event) ~ I(1 - o), data = cohort, ties = "efron", control = CTRL)
  out <- list(
    options = opt,
    n_complete = sum(cc),
    counting_process = rows_of(tv),
    counting_process_unlagged = rows_of(tv0),
    events_by_exposure = events_by_exposure(tv),
    events_by_exposure_unlagged = events_by_exposure(tv0),
    time_varying = tv_models(tv, adjusted = TRUE),
    time_varying_unlagged = tv_models(tv0),
    fixed_group = term(fixed_fit, "I(1 - o)"),
    landmark = landmark(cohort, cyc, opt$landmark, opt$horizon, opt$lag),
    landmark_6 = landmark(cohort, cyc, 6, opt$horizon, opt$lag),
    pfs_eligible = list(o_rait = km_at(cohort$pfs_months[o], cohort$pfs_event[o], opt$horizon),
                        m_rait = km_at(cohort$pfs_months[!o], cohort$pfs_event[!o], opt$horizon)),
    iptw = iptw(cohort[cc, ], opt$horizon),
    dose = dose_models(cohort[cc, ], tv[tv$patient_id %in% cohort$patient_id[cc], ], opt$ref, opt$df, opt$grid)
  )
  write_out(out, args[4])
} else if (mode == "toy") {
  opt <- modifyList(list(lag = 14), kv(args[-(1:3)]))
  inp <- fromJSON(args[2], simplifyVector = TRUE)
  cohort <- inp$cohort
  cohort <- cohort[order(cohort$patient_id, method = "radix"), ]
  tv <- counting_process(cohort, cycle_times(cohort, inp$cycles, opt$lag))
  tv0 <- counting_process(cohort, cycle_times(cohort, inp$cycles))
  write_out(list(options = opt, counting_process = rows_of(tv), time_varying = tv_models(tv),
                 counting_process_unlagged = rows_of(tv0), time_varying_unlagged = tv_models(tv0)), args[3])
} else {
  stop("unknown mode ", mode, "; see the header of this script")
}
