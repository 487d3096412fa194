//! Training on the bundled samples reaches the accuracy scikit-learn reaches on the same data.

mod accuracy;
