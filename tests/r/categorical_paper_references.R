# R reference values for the categorical tests on the paper's own published counts
# (tests/test_categorical_rules.py, docs/categorical-tests.md).
#
# Usage (from anywhere):
#   Rscript tests/r/categorical_paper_references.R [categorical_counts.json] [out.json]
# Defaults: tests/data/paper_tables/categorical_counts.json -> tests/data/r_reference/categorical_paper.json
#
# Per row (levels x groups o-RAIT, m-RAIT): Pearson chisq.test(correct = FALSE), Yates
# chisq.test(correct = TRUE) for a 2 x 2 table, exact fisher.test, the likelihood-ratio G-test by
# hand (G = 2 sum O log(O / E), empty cells 0, df (r - 1)(c - 1)), the smallest expected count,
# and the linear-by-linear association M^2 = (n - 1) r^2 with level scores 1, 2, ... (SPSS
# prints it under its crosstabs; used only to explain a published value).

suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = TRUE)
file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
script_dir <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1]))) else "tests/r"
root <- normalizePath(file.path(script_dir, "..", ".."))
in_path <- if (length(args) >= 1) args[1] else file.path(root, "tests/data/paper_tables/categorical_counts.json")
out_path <- if (length(args) >= 2) args[2] else file.path(root, "tests/data/r_reference/categorical_paper.json")

counts <- fromJSON(in_path, simplifyVector = FALSE)

reference <- function(row) {
  tab <- cbind(unlist(row$o_rait), unlist(row$m_rait))
  E <- outer(rowSums(tab), colSums(tab)) / sum(tab)
  is_2x2 <- all(dim(tab) == 2)
  G <- 2 * sum(ifelse(tab > 0, tab * log(tab / E), 0))
  df <- (nrow(tab) - 1) * (ncol(tab) - 1)
  score <- rep(seq_len(nrow(tab)), rowSums(tab))
  group <- unlist(lapply(seq_len(nrow(tab)), function(i) rep(c(0, 1), tab[i, ])))
  m2 <- (sum(tab) - 1) * cor(score, group)^2
  list(
    variable = row$variable,
    min_expected = min(E),
    chi_square = suppressWarnings(chisq.test(tab, correct = FALSE))$p.value,
    chi_square_yates = if (is_2x2) suppressWarnings(chisq.test(tab, correct = TRUE))$p.value else NA,
    g_test = pchisq(G, df, lower.tail = FALSE),
    fisher_exact = fisher.test(tab)$p.value,
    linear_by_linear = pchisq(m2, 1, lower.tail = FALSE))
}

out <- list(
  meta = list(input = basename(in_path), r_version = R.version.string,
              created = format(Sys.time(), "%Y-%m-%dT%H:%M:%S")),
  rows = lapply(counts$rows, reference))
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
write_json(out, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null")
cat("wrote", out_path, "\n")
