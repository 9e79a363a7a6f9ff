#!/usr/bin/env Rscript
# Reference values for the centres section (rait_registry.analysis.centres) from R survival and
# metafor: PFS of m-RAIT vs o-RAIT stratified by centre on a synthetic multi-centre cohort.
#
# Usage (paths are arguments; nothing is hard-wired), from the repository root:
#   Rscript tests/r/centres_references.R tests/data/centres_cohort.csv \
#       tests/data/r_reference/centres.json
# The committed reference was made with R 4.2.2, survival 3.5.3 and metafor (Debian).
#
# Input: an analysis_cohort CSV (patient_id, rait_group, pfs_months, pfs_event, center_id, ...):
# tests/data/centres_cohort.csv is the cohort of `rait-registry synth --patients 400 --seed 3
# --centres 4` after a refresh (4 centres; centre C01 has no o-RAIT progression).
#   * logrank:     survdiff(Surv(pfs_months, pfs_event) ~ m + strata(center_id));
#   * cox:         coxph(Surv(pfs_months, pfs_event) ~ m + strata(center_id)), Efron ties;
#   * per centre:  coxph(Surv ~ m) in each centre with an event in both groups (else null);
#   * heterogeneity: metafor rma(yi = per-centre log HR, sei = its SE, method = "DL"): Q, its df
#     and p, I-squared (as a share, not %), tau-squared, and the fixed-effect (method = "FE") and
#     DerSimonian-Laird random-effects pooled log HR with SE.
#   * heterogeneity_toy: the same on fixed log HRs and SEs whose Q exceeds its df (tau-squared > 0),
#     so that the random-effects weights are checked too.
# m = 1 for m-RAIT. Cox fits: eps = 1e-12.
# Output: JSON with 15 significant digits; NA -> null.

suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
  library(metafor)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: centres_references.R COHORT.csv OUT.json")
d <- read.csv(args[1], stringsAsFactors = FALSE, na.strings = "")
d$m <- as.integer(d$rait_group == "m-RAIT")
ctrl <- coxph.control(eps = 1e-12, iter.max = 200, toler.chol = 1e-13)

lr <- survdiff(Surv(pfs_months, pfs_event) ~ m + strata(center_id), data = d)
fit <- coxph(Surv(pfs_months, pfs_event) ~ m + strata(center_id), data = d, ties = "efron", control = ctrl)

centres <- sort(unique(d$center_id))
per <- lapply(centres, function(c) {
  dc <- d[d$center_id == c, ]
  ok <- sum(dc$pfs_event[dc$m == 1]) > 0 && sum(dc$pfs_event[dc$m == 0]) > 0
  if (!ok) {
    return(list(center_id = c, n = nrow(dc), events = sum(dc$pfs_event), log_hr = NA, se_log_hr = NA))
  }
  f <- coxph(Surv(pfs_months, pfs_event) ~ m, data = dc, ties = "efron", control = ctrl)
  list(center_id = c, n = nrow(dc), events = sum(dc$pfs_event), log_hr = unname(coef(f)),
       se_log_hr = unname(sqrt(diag(vcov(f)))))
})
est <- Filter(function(r) !is.na(r$log_hr), per)
yi <- sapply(est, `[[`, "log_hr")
sei <- sapply(est, `[[`, "se_log_hr")

meta <- function(yi, sei) {
  re <- rma(yi = yi, sei = sei, method = "DL")
  fe <- rma(yi = yi, sei = sei, method = "FE")
  list(
    n_centres = length(yi), q = re$QE, df = re$k - 1, p = re$QEp, i2 = re$I2 / 100, tau2 = re$tau2,
    fixed = list(log_hr = as.numeric(fe$beta), se_log_hr = fe$se),
    random = list(log_hr = as.numeric(re$beta), se_log_hr = re$se)
  )
}
toy_yi <- c(0.9, -0.6, 0.3, 1.4)
toy_sei <- c(0.3, 0.35, 0.5, 0.4)

out <- list(
  r_version = R.version.string,
  survival_version = as.character(packageVersion("survival")),
  metafor_version = as.character(packageVersion("metafor")),
  logrank = list(chi2 = lr$chisq, df = 1,
                 p = pchisq(lr$chisq, 1, lower.tail = FALSE)),
  cox = list(log_hr = unname(coef(fit)), se_log_hr = unname(sqrt(diag(vcov(fit)))),
             hr = unname(exp(coef(fit))), p = unname(summary(fit)$coefficients[1, "Pr(>|z|)"])),
  centres = per,
  heterogeneity = meta(yi, sei),
  heterogeneity_toy = c(list(log_hr = toy_yi, se_log_hr = toy_sei), meta(toy_yi, toy_sei))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), na = "null", pretty = TRUE), args[2])
