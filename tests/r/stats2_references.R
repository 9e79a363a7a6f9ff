#!/usr/bin/env Rscript
# Reference values for the Statistics II layer (matching, survival, cut-points) from R.
#
# Usage (paths are arguments; nothing is hard-wired):
#   Rscript tests/r/stats2_references.R cohort  IN.csv OUT.json [age_cut=45] [size_cut=4] [caliper=0.05]
#   Rscript tests/r/stats2_references.R dataset CONFIG.json IN.csv OUT.json
#   Rscript tests/r/stats2_references.R matching-cases CASE_DIR OUT.json
#
# cohort:  an analysis_cohort CSV (docs/specification.md section 3). Propensity of o-RAIT from
#          glm(o-RAIT ~ age_at_diagnosis_years + local_persistent_disease + follow_up_months),
#          1:1 greedy matching with caliper 0.05 on the propensity score, Kaplan-Meier
#          (conf.type = "log-log"), survdiff, coxph (Efron) for the eligible cohort, the matched
#          cohort and the Fig. 4 subgroups of the matched cohort, and maxstat on age and tumour
#          size over the eligible cohort.
# dataset: the same pieces on any survival data set, described by a JSON config (columns,
#          matching, groupings, maxstat variables).
# matching-cases: MatchIt on the hand-worked cases (tests/data/matching_cases/*.json), which
#          give the propensity scores directly.
#
# Needs MatchIt >= 4.5.4: Debian's MatchIt 4.5.1 ignores the caliper in method = "nearest" (a bug
# in its compiled matcher nn_matchC_vec, fixed upstream in 4.5.4). The committed references were
# made with MatchIt 4.7.2 built from source into a private library (R_LIBS=/path/to/rlib Rscript
# ...); the script stops on an older MatchIt. Matching is MatchIt's own vector path
# (matchit(method = "nearest", m.order = "largest", std.caliper = FALSE) given the score as a
# numeric `distance`), with the data in patient_id byte order (order(..., method = "radix")), so
# MatchIt's data order -- which breaks its ties -- is byte order as in the Python layer. Pairs are
# written in the order MatchIt forms them (focal units by descending score, ties in data order).
# The propensity score is recomputed from the glm coefficients column by column
# (eta = b0 + x1 b1 + ...), so patients with identical covariates get identical scores.
#
# Output: JSON with 15 significant digits; NA -> null.
#
# The committed references were made with (from the repository root):
#   (each command as R_LIBS=<library with MatchIt >= 4.5.4> Rscript ...)
#   Rscript tests/r/stats2_references.R cohort tests/data/frozen_cohort/analysis_cohort.csv \
#       tests/data/r_reference/stats2_frozen_cohort.json
#   for d in rossi rossi_logit_sd; do Rscript tests/r/stats2_references.R dataset \
#       tests/data/r_reference/stats2_${d}_config.json tests/data/lifelines_rossi.csv \
#       tests/data/r_reference/stats2_${d}.json; done
#   Rscript tests/r/stats2_references.R dataset tests/data/r_reference/stats2_waltons_config.json \
#       tests/data/lifelines_waltons.csv tests/data/r_reference/stats2_waltons.json
#   Rscript tests/r/stats2_references.R matching-cases tests/data/matching_cases \
#       tests/data/r_reference/stats2_matching_cases.json
# After the demo cohort is re-frozen, rerun the first command.
# tests/data/lifelines_rossi.csv is lifelines.datasets.load_rossi() plus `id` (R001...),
# `prio_group` ("0", "1-2", "3+") and `noise_x` = numpy default_rng(1).uniform(0, 100, 432)
# rounded to 0.1 (unrelated to the outcome: its Lau94 p-value exceeds 1);
# tests/data/lifelines_waltons.csv is load_waltons() plus `id` (W001...).

suppressPackageStartupMessages({
  library(survival)
  library(MatchIt)
  library(maxstat)
  library(jsonlite)
})
if (packageVersion("MatchIt") < "4.5.4") {
  stop("MatchIt >= 4.5.4 is needed (4.5.1 ignores the caliper in method = 'nearest'); set R_LIBS")
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: see the header of this script")

kv <- function(a) {
  out <- list()
  for (x in a) {
    p <- strsplit(x, "=", fixed = TRUE)[[1]]
    out[[p[1]]] <- paste(p[-1], collapse = "=")
  }
  out
}

num_or_null <- function(x) if (length(x) == 0 || is.na(x)) NULL else unname(x)

# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------

propensity <- function(d, focal, covs) {
  f <- reformulate(covs, response = "treat__")
  d$treat__ <- as.integer(focal)
  g <- glm(f, data = d, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
  X <- model.matrix(f, d)
  b <- coef(g)
  eta <- rep(b[1], nrow(d))
  for (j in 2:ncol(X)) eta <- eta + X[, j] * b[j]
  e <- exp(eta)
  list(p = unname(e / (1 + e)), coef = b, lp = unname(eta))
}

# Greedy matching by MatchIt's vector path; `score` on the matching scale, rows in data order.
match_on_scores <- function(ids, focal, score, caliper, covs = NULL, d = NULL) {
  if (is.null(d)) {
    dd <- data.frame(treat__ = as.integer(focal), x__ = seq_along(score))
    f <- treat__ ~ x__
  } else {
    dd <- d
    dd$treat__ <- as.integer(focal)
    f <- reformulate(covs, response = "treat__")
  }
  rownames(dd) <- ids
  m <- suppressWarnings(matchit(f, data = dd, distance = as.numeric(score), method = "nearest",
                                m.order = "largest", caliper = caliper, std.caliper = FALSE,
                                replace = FALSE))
  mm <- m$match.matrix
  formed <- order(score[focal], decreasing = TRUE)  # MatchIt's order of the focal units
  formed <- formed[!is.na(mm[formed, 1])]
  pairs <- unname(lapply(formed, function(i) unname(c(rownames(mm)[i], mm[i, 1]))))
  list(m = m, pairs = pairs, data = dd)
}

balance_rows <- function(m) {
  s <- summary(m, standardize = TRUE)
  a <- s$sum.all
  b <- s$sum.matched
  lapply(setdiff(rownames(a), "distance"), function(r) list(
    covariate = r,
    smd_before = num_or_null(a[r, "Std. Mean Diff."]),
    smd_after = num_or_null(b[r, "Std. Mean Diff."])
  ))
}

# ---------------------------------------------------------------------------------------------
# Survival
# ---------------------------------------------------------------------------------------------

one_group <- function(time, event, horizon, at_times) {
  res <- list(n = length(time), events = sum(event), at_risk = list())
  for (t in at_times) res$at_risk[[as.character(t)]] <- sum(time >= t)
  if (length(time) == 0) return(res)
  fit <- survfit(Surv(time, event) ~ 1, conf.type = "log-log")
  res$km <- list(time = fit$time, surv = fit$surv, lower = fit$lower, upper = fit$upper,
                 n_risk = fit$n.risk, n_event = fit$n.event)
  res$median <- num_or_null(quantile(fit, probs = 0.5, conf.int = FALSE))
  # survival at the horizon: the step value at or before it; not estimable when follow-up
  # ends earlier, unless the curve has already reached 0
  if (horizon <= max(time)) {
    sh <- summary(fit, times = horizon, extend = FALSE)
    res$surv_h <- sh$surv
    res$lower_h <- num_or_null(sh$lower)
    res$upper_h <- num_or_null(sh$upper)
  } else if (fit$surv[length(fit$surv)] == 0) {
    res$surv_h <- 0
  }
  res
}

# cluster: the matched pair of each patient (matched cohort): the HR's SE is then the
# cluster-robust sandwich (coxph(..., cluster = pair)), as the Python layer reports it.
compare <- function(time, event, group, levels, horizon, at_every, cluster = NULL) {
  keep <- !is.na(group)
  time <- time[keep]; event <- event[keep]; group <- as.character(group[keep])
  if (!is.null(cluster)) cluster <- cluster[keep]
  at_times <- if (length(time)) seq(0, floor(max(time) / at_every + 1e-9) * at_every, by = at_every) else 0
  out <- list(n = length(time), events = sum(event), groups = list())
  for (g in levels) {
    s <- group == g
    out$groups[[g]] <- one_group(time[s], event[s], horizon, at_times)
  }
  present <- levels[levels %in% unique(group)]
  if (length(present) >= 2 && sum(event) > 0) {
    gf <- factor(group, levels = present)
    sd <- survdiff(Surv(time, event) ~ gf)
    out$logrank_chi2 <- sd$chisq
    out$logrank_df <- length(present) - 1
    out$logrank_p <- pchisq(sd$chisq, length(present) - 1, lower.tail = FALSE)
  }
  if (length(levels) == 2 && length(present) == 2 &&
      all(tapply(event, factor(group, levels = levels), sum) > 0)) {
    gf <- factor(group, levels = levels)
    cx <- if (is.null(cluster)) {
      coxph(Surv(time, event) ~ gf, ties = "efron", control = coxph.control(eps = 1e-11, iter.max = 100))
    } else {
      coxph(Surv(time, event) ~ gf, ties = "efron", cluster = cluster,
            control = coxph.control(eps = 1e-11, iter.max = 100))
    }
    ci <- exp(confint(cx))
    out$hr <- unname(exp(coef(cx)))
    out$hr_ci_low <- unname(ci[1, 1])
    out$hr_ci_high <- unname(ci[1, 2])
    out$hr_p <- unname(summary(cx)$coefficients[1, "Pr(>|z|)"])
    out$hr_se_log <- sqrt(unname(vcov(cx)[1, 1]))
  }
  out
}

maxstat_row <- function(time, event, x, name) {
  d <- data.frame(time = time, event = event, x = x)
  r <- tryCatch(
    maxstat.test(Surv(time, event) ~ x, data = d, smethod = "LogRank", pmethod = "Lau94",
                 minprop = 0.1, maxprop = 0.9),
    error = function(e) NULL)
  if (is.null(r)) return(list(variable = name))
  list(variable = name, cutpoint = unname(r$estimate), statistic = unname(r$statistic),
       p_value = unname(r$p.value), cuts = unname(r$cuts), stats = unname(r$stats))
}

write_out <- function(x, path) {
  write_json(x, path, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE)
}

provenance <- function() {
  list(R = R.version.string,
       survival = as.character(packageVersion("survival")),
       MatchIt = as.character(packageVersion("MatchIt")),
       maxstat = as.character(packageVersion("maxstat")),
       script = "tests/r/stats2_references.R")
}

# ---------------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------------

mode <- args[1]

if (mode == "cohort") {
  inp <- args[2]; outp <- args[3]
  o <- kv(args[-(1:3)])
  age_cut <- as.numeric(if (is.null(o$age_cut)) 45 else o$age_cut)
  size_cut <- as.numeric(if (is.null(o$size_cut)) 4 else o$size_cut)
  caliper <- as.numeric(if (is.null(o$caliper)) 0.05 else o$caliper)
  d <- read.csv(inp, stringsAsFactors = FALSE, na.strings = "", colClasses = c(patient_id = "character"))
  d <- d[order(d$patient_id, method = "radix"), ]
  d$local_persistent_disease <- as.numeric(d$local_disease_status == "local_persistent")
  covs <- c("age_at_diagnosis_years", "local_persistent_disease", "follow_up_months")
  focal <- d$rait_group == "o-RAIT"
  ps <- propensity(d, focal, covs)
  mt <- match_on_scores(d$patient_id, focal, ps$p, caliper, covs, d)
  matched_ids <- unlist(mt$pairs)
  md <- d[d$patient_id %in% matched_ids, ]
  pair_of <- setNames(rep(seq_along(mt$pairs), each = 2), matched_ids)
  md$pair <- unname(pair_of[md$patient_id])

  rg <- c("o-RAIT", "m-RAIT")
  H <- 60; A <- 12
  a <- format(age_cut); s <- format(size_cut)
  age_lab <- function(x) ifelse(is.na(x), NA, ifelse(x >= age_cut, paste0("age >= ", a), paste0("age < ", a)))
  size_lab <- function(x) ifelse(is.na(x), NA, ifelse(x > size_cut, paste0("tumour > ", s, " cm"), paste0("tumour <= ", s, " cm")))
  sub <- list()
  sub[["age"]] <- compare(md$pfs_months, md$pfs_event, age_lab(md$age_at_diagnosis_years),
                          c(paste0("age < ", a), paste0("age >= ", a)), H, A)
  sub[["tumour_size"]] <- compare(md$pfs_months, md$pfs_event, size_lab(md$max_tumor_size_cm),
                                  c(paste0("tumour <= ", s, " cm"), paste0("tumour > ", s, " cm")), H, A)
  sub[["local_disease_status"]] <- compare(md$pfs_months, md$pfs_event, md$local_disease_status,
                                           c("neither", "local_recurrence", "local_persistent"), H, A)
  k <- !is.na(md$age_at_diagnosis_years) & md$age_at_diagnosis_years >= age_cut
  sub[[paste0("rait_group_in_age_ge_", a)]] <- compare(md$pfs_months[k], md$pfs_event[k], md$rait_group[k], rg, H, A)
  k <- !is.na(md$max_tumor_size_cm) & md$max_tumor_size_cm > size_cut
  sub[[paste0("rait_group_in_tumour_gt_", s, "cm")]] <- compare(md$pfs_months[k], md$pfs_event[k], md$rait_group[k], rg, H, A)
  k <- !is.na(md$local_disease_status) & md$local_disease_status == "local_persistent"
  sub[["rait_group_in_local_persistent"]] <- compare(md$pfs_months[k], md$pfs_event[k], md$rait_group[k], rg, H, A)

  out <- list(
    provenance = provenance(),
    input = basename(inp),
    options = list(age_cut = age_cut, size_cut = size_cut, caliper = caliper),
    propensity = list(patient_id = d$patient_id, p = ps$p, coef = as.list(ps$coef)),
    matching = list(pairs = mt$pairs, n_pairs = length(mt$pairs), balance = balance_rows(mt$m)),
    survival = list(
      overall = compare(d$pfs_months, d$pfs_event, d$rait_group, rg, H, A),
      matched = compare(md$pfs_months, md$pfs_event, md$rait_group, rg, H, A, cluster = md$pair),
      subgroups = sub
    ),
    cutpoints = list(
      maxstat_row(d$pfs_months, d$pfs_event, d$age_at_diagnosis_years, "age_at_diagnosis_years"),
      maxstat_row(d$pfs_months, d$pfs_event, d$max_tumor_size_cm, "max_tumor_size_cm")
    )
  )
  write_out(out, outp)

} else if (mode == "dataset") {
  cfg <- fromJSON(args[2], simplifyVector = TRUE)
  inp <- args[3]; outp <- args[4]
  d <- read.csv(inp, stringsAsFactors = FALSE, na.strings = "")
  d[[cfg$id]] <- as.character(d[[cfg$id]])
  d <- d[order(d[[cfg$id]], method = "radix"), ]
  tm <- d[[cfg$time]]; ev <- d[[cfg$event]]
  out <- list(provenance = provenance(), input = basename(inp), config = cfg)
  if (!is.null(cfg$matching)) {
    mc <- cfg$matching
    focal <- as.character(d[[mc$group]]) == as.character(mc$focal)
    ps <- propensity(d, focal, mc$covariates)
    scale <- if (is.null(mc$caliper_scale)) "propensity" else mc$caliper_scale
    if (scale == "propensity") {
      score <- ps$p; width <- mc$caliper
    } else {
      score <- ps$lp; width <- mc$caliper * sd(ps$lp)
    }
    mt <- match_on_scores(d[[cfg$id]], focal, score, width, mc$covariates, d)
    out$propensity <- list(id = d[[cfg$id]], p = ps$p, coef = as.list(ps$coef))
    out$matching <- list(pairs = mt$pairs, n_pairs = length(mt$pairs), caliper_width = width,
                         balance = balance_rows(mt$m))
  }
  out$survival <- list()
  for (i in seq_len(nrow(cfg$survival))) {
    sv <- cfg$survival[i, ]
    out$survival[[sv$name]] <- compare(tm, ev, as.character(d[[sv$group]]), unlist(sv$levels),
                                       cfg$horizon, cfg$at_risk_every)
  }
  out$cutpoints <- lapply(cfg$maxstat, function(v) maxstat_row(tm, ev, d[[v]], v))
  if (length(cfg$maxstat)) {
    # log-rank scores as maxstat computes them (exactRankTests::cscores), in data (id) order
    out$logrank_scores <- list(id = d[[cfg$id]],
                               scores = as.numeric(exactRankTests::cscores(Surv(tm, ev), type = "LogRank")))
  }
  write_out(out, outp)

} else if (mode == "matching-cases") {
  dir <- args[2]; outp <- args[3]
  files <- sort(list.files(dir, pattern = "\\.json$", full.names = TRUE), method = "radix")
  res <- list()
  for (f in files) {
    cs <- fromJSON(f, simplifyVector = TRUE)
    u <- cs$units
    u <- u[order(as.character(u$patient_id), method = "radix"), ]  # data order = byte order
    mt <- match_on_scores(as.character(u$patient_id), u$group == "o-RAIT", as.numeric(u$propensity),
                          cs$caliper)
    res[[basename(f)]] <- list(pairs = mt$pairs, n_pairs = length(mt$pairs))
  }
  write_out(list(provenance = provenance(), cases = res), outp)

} else {
  stop(paste("unknown mode", mode))
}
