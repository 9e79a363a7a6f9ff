#!/usr/bin/env Rscript
# Reference values for the target-trial emulation (rait_registry.analysis.strategies) from R
# survival (>= 3.5) and stats::glm, fitted on the SAME data sets the Python code writes out:
#
#   CLONES.csv.gz  the cloned, weighted counting-process rows (TargetTrialEmulation.clones_):
#                  patient_id, arm, start, stop, event, weight;
#   DESIGN.csv.gz  the censoring model's person-months: y (second RAIT in the month) and the
#                  design columns (intercept first), as TargetTrialEmulation builds them.
#
# Usage (from the repository root; the committed references were made with R 4.2.2, survival 3.5.3):
#   Rscript tests/r/strategies_references.R tests/data/strategies/demo_clones.csv.gz \
#       tests/data/strategies/demo_design.csv.gz tests/data/r_reference/strategies_demo.json
# Rerun it when tests/data/strategies/ is regenerated (tests/test_strategies.py says how).
#
# Output (JSON):
#   km:    per arm, survfit(Surv(start, stop, event) ~ 1, weights = weight, id = patient_id,
#          robust = TRUE) at 24 and 60 months: surv and its robust (infinitesimal jackknife)
#          standard error on the survival scale;
#   cox:   coxph(Surv(start, stop, event) ~ second_rait, weights = weight, cluster = patient_id,
#          ties = "efron"): coef, naive and robust SE (the robust one, dfbeta summed per patient
#          over both clones, is the SE the emulation reports; pinned to 1e-6);
#   glm:   glm(y ~ . - 1, family = binomial) on the design: the coefficients in column order and the
#          deviance (coefficients of separated terms, where no second RAIT occurs, are not
#          identified: the test compares the others and the deviance).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3) stop("usage: strategies_references.R CLONES.csv.gz DESIGN.csv.gz OUT.json")
clones <- read.csv(gzfile(args[1]), stringsAsFactors = FALSE)
design <- read.csv(gzfile(args[2]))

num <- function(x) formatC(x, digits = 17, format = "g")
km <- list()
for (arm in unique(clones$arm)) {
  rows <- clones[clones$arm == arm, ]
  fit <- survfit(Surv(start, stop, event) ~ 1, data = rows, weights = weight, id = patient_id, robust = TRUE)
  s <- summary(fit, times = c(24, 60), extend = TRUE)
  km[[arm]] <- sprintf('{"times": [%s], "surv": [%s], "std_err": [%s]}',
                       paste(num(s$time), collapse = ", "), paste(num(s$surv), collapse = ", "),
                       paste(num(s$std.err), collapse = ", "))
}
clones$second_rait <- as.numeric(clones$arm == "second_rait_within_grace")
cox <- coxph(Surv(start, stop, event) ~ second_rait, data = clones, weights = weight,
             cluster = patient_id, ties = "efron")
g <- glm(y ~ . - 1, family = binomial(), data = design, control = glm.control(epsilon = 1e-12, maxit = 100))
out <- sprintf(paste0('{\n  "r_version": "%s",\n  "survival_version": "%s",\n',
                      '  "km": {%s},\n',
                      '  "cox": {"coef": %s, "se_naive": %s, "se_robust": %s},\n',
                      '  "glm": {"terms": [%s], "coef": [%s], "deviance": %s}\n}\n'),
               R.version.string, as.character(packageVersion("survival")),
               paste(sprintf('"%s": %s', names(km), unlist(km)), collapse = ", "),
               num(coef(cox)[[1]]), num(sqrt(cox$naive.var[1, 1])), num(sqrt(vcov(cox)[1, 1])),
               paste(sprintf('"%s"', names(coef(g))), collapse = ", "), paste(num(coef(g)), collapse = ", "), num(deviance(g)))
writeLines(out, args[3], sep = "")
