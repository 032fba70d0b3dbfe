"""Model definition, training, evaluation, int8 export and the LiteRT predictor (to come)."""
